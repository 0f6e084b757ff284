// An ONNX graph under construction: named inputs, initializers (weights, each stored once however
// many nodes read it), nodes and outputs, serialised with the maintained protobuf bindings of
// onnx.proto (npm `onnx-proto`, protobufjs). The emitters (emit_*.ts) call `op` the way a model's
// forward calls the engine's ops; names are made unique here, so an emitter only says what a
// value is ("blocks.0.attn.scores"), never how to keep it apart from another.

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX opset of the default domain. 17 has LayerNormalization; ScatterND's `reduction` needs 16. */
export const OPSET = 17;
/** IR version 8 is the one opset 17 was released with (and what onnx-proto's schema knows). */
export const IR_VERSION = 8;

export type ElemType = 'float32' | 'int64' | 'int8' | 'int32' | 'bool' | 'uint8';
const ELEM: Record<ElemType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 };

/** A dimension: a fixed size, or a named dynamic axis ("batch", "sequence"). */
export type Dim = number | string;

type AttrValue = number | string | number[] | { float: number } | { floats: number[] } | { tensor: ConstTensor };

/** A tensor stored in the graph (an initializer or a Constant's value). */
export interface ConstTensor {
  type: ElemType;
  dims: number[];
  data: Float32Array | Int32Array | BigInt64Array | Int8Array | Uint8Array;
}

export class Graph {
  private readonly nodes: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private readonly initializers: object[] = [];
  private readonly used = new Set<string>();
  /** Weights already stored, by identity of their array (a shared component is stored once). */
  private readonly stored = new Map<object, string>();
  /** Small constants already stored, by name and value. */
  private readonly consts = new Map<string, string>();

  constructor(readonly name: string) {}

  /** A name not used before: `base`, else `base_2`, `base_3`, ... */
  fresh(base: string): string {
    let n = base;
    for (let i = 2; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    if (this.used.has(name)) throw new Error(`graph input "${name}" is named twice`);
    this.used.add(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(value: string, name: string, type: ElemType, dims: Dim[]): void {
    // An output's name is part of the graph's interface: rename the value with Identity.
    if (this.used.has(name)) throw new Error(`graph output "${name}" is named twice`);
    this.used.add(name);
    this.nodes.push(node('Identity', [value], [name], {}, `${name}_identity`));
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * An initializer holding `t`. A tensor given twice with the same data array (a block two
   * paths share, a tied weight) is stored once when `key` is that array.
   */
  init(name: string, t: ConstTensor, key?: object): string {
    const k = key ?? null;
    if (k) {
      const have = this.stored.get(k);
      if (have) return have;
    }
    const n = this.fresh(name);
    this.initializers.push(tensorProto(n, t));
    if (k) this.stored.set(k, n);
    return n;
  }

  f32(name: string, data: Float32Array, dims: number[], key?: object): string {
    return this.init(name, { type: 'float32', dims, data }, key);
  }

  /** An int64 constant (a shape, an axis list); the same name and values give the same initializer. */
  i64(name: string, values: readonly number[], dims = [values.length]): string {
    return this.constant(`i64:${name}:${dims}:${values}`, () => this.init(name, { type: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) }));
  }

  /** A float scalar constant (shape []); the same name and value give the same initializer. */
  scalar(name: string, v: number): string {
    return this.constant(`f32:${name}:${v}`, () => this.init(name, { type: 'float32', dims: [], data: Float32Array.of(v) }));
  }

  private constant(key: string, make: () => string): string {
    let n = this.consts.get(key);
    if (!n) this.consts.set(key, (n = make()));
    return n;
  }

  /** One node with one output; returns the output's name. */
  op(type: string, inputs: readonly string[], name: string, attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.opN(type, inputs, [name], attrs, domain)[0];
  }

  /** One node with several outputs (Split, TopK); returns their names. */
  opN(type: string, inputs: readonly string[], names: readonly string[], attrs: Record<string, AttrValue> = {}, domain = ''): string[] {
    const outs = names.map((n) => this.fresh(n));
    this.nodes.push(node(type, inputs, outs, attrs, this.fresh(`${outs[0]}_${type}`), domain));
    return outs;
  }

  /** The model, serialised: opset OPSET of the default domain (and of com.microsoft when used). */
  serialize(meta: Record<string, string> = {}, docString = ''): Uint8Array {
    const domains = new Set(this.nodes.map((n) => (n as { domain?: string }).domain ?? '').filter((d) => d !== ''));
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'pathwise',
      producerVersion: '0.1.0',
      docString,
      opsetImport: [{ domain: '', version: OPSET }, ...[...domains].map((d) => ({ domain: d, version: 1 }))],
      metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** Nodes so far, by op type (what a test checks about a graph's shape). */
  opCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const n of this.nodes as { opType: string }[]) m.set(n.opType, (m.get(n.opType) ?? 0) + 1);
    return m;
  }
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): object {
  return {
    name,
    type: { tensorType: { elemType: ELEM[type], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function tensorProto(name: string, t: ConstTensor): object {
  const expected = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== expected) throw new Error(`initializer "${name}": ${t.data.length} values for dims [${t.dims}]`);
  // raw_data is little-endian, which every platform Node runs on is.
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();
  return { name, dims: t.dims, dataType: ELEM[t.type], rawData: raw };
}

function node(type: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, AttrValue>, name: string, domain = ''): object {
  return {
    opType: type,
    input: [...inputs],
    output: [...outputs],
    name,
    domain,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  };
}

const A = onnx.AttributeProto.AttributeType;

function attribute(name: string, v: AttrValue): object {
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: A.FLOATS, floats: v.floats };
  return { name, type: A.TENSOR, t: tensorProto(name, v.tensor) };
}
