// An exported model folder: one folder per task in the layout transformers.js loads from a local
// path, written atomically (util/atomic.ts), each graph read back (decoded, its opset, inputs and
// output checked) before anything is replaced.
//
//   OUT/<task>/config.json              model_type and architecture transformers.js maps to a
//                                       class, id2label/label2id, and what Pathwise knows
//                                       ("pathwise": the task, its inputs, its preprocessing)
//   OUT/<task>/tokenizer.json           the model's tokenizer (Hugging Face format), text tasks
//   OUT/<task>/tokenizer_config.json
//   OUT/<task>/onnx/model.onnx          the task's path, fp32
//   OUT/<task>/onnx/model_quantized.onnx   (--int8) the same with int8 weights
//   OUT/<task>/pathwise_prior.json      a Naive Bayes prior's counted buckets (prior_rows' index)
//
// A text task whose head has no n-gram bag and no prior reads exactly what a BERT classifier
// reads (input_ids, attention_mask, token_type_ids -> logits), so transformers.js's
// BertForSequenceClassification / BertForTokenClassification run it as they are. A head with
// lexical parts also needs `ngram_*` and `prior_*` inputs, computed as export/inputs.ts does.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { TaskModel, TaskPath } from '../model/index.js';
import { ImageStem } from '../nn/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { priorSeenBuckets } from './onnx/emit_head.js';
import { OPSET } from './onnx/graph.js';
import { taskGraph, type GraphInput } from './onnx/task_graph.js';
import { Weights } from './onnx/weights.js';
import { Int8Weights } from './onnx/weights_int8.js';

const { onnx } = onnxProto;

export interface OnnxExportOptions {
  /** Tasks to export (default: every task). */
  tasks?: readonly string[];
  /**
   * Also write onnx/model_quantized.onnx from this model: the same model with int8 forms on its
   * weights (`pathwise quantize`'s rule, compress/quantize.ts). A separate copy, because the
   * forms replace the float weights the fp32 graphs are written from.
   */
  int8Model?: TaskModel;
  /** Called with the written folder before it replaces anything (a test loads every graph there). */
  check?: (written: string) => void;
}

/** What `pathwise export --format onnx` reports per task. */
export interface ExportedTask {
  task: string;
  inputs: string[];
  bytes: number;
  bytesInt8: number | null;
}

/** The transformers.js architecture and model_type a task's graph can stand in for. */
function architecture(path: TaskPath): { model_type: string; architectures: string[] } {
  if (path.embeddings instanceof ImageStem) return { model_type: 'vit', architectures: ['ViTForImageClassification'] };
  if (path.spec.type === 'tagging') return { model_type: 'bert', architectures: ['BertForTokenClassification'] };
  return { model_type: 'bert', architectures: ['BertForSequenceClassification'] };
}

/** The files of one task's export, named relative to OUT. */
export function taskFiles(
  model: TaskModel,
  task: string,
  o: { int8Model?: TaskModel } = {},
): { files: Record<string, string | Uint8Array>; report: ExportedTask } {
  const path = model.taskPath(task);
  const spec = path.spec;
  const fp32 = taskGraph(path, new Weights());
  const meta = { task, type: spec.type, labels: JSON.stringify(spec.labels) };
  const doc = `Pathwise task "${task}" (${spec.type}): its path only.`;
  const model32 = fp32.graph.serialize(meta, doc);
  const files: Record<string, string | Uint8Array> = { [`${task}/onnx/model.onnx`]: model32 };
  let bytesInt8: number | null = null;
  if (o.int8Model) {
    const q = taskGraph(o.int8Model.taskPath(task), new Int8Weights()).graph.serialize({ ...meta, weights: 'int8' }, `${doc} Int8 weights.`);
    files[`${task}/onnx/model_quantized.onnx`] = q;
    bytesInt8 = q.length;
  }
  const labels = spec.type === 'regression' ? ['value'] : spec.labels;
  const image = path.embeddings instanceof ImageStem ? path.embeddings.cfg : null;
  const config = {
    ...architecture(path),
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    ...(spec.type === 'regression' ? { problem_type: 'regression' } : {}),
    ...(image ? { image_size: [image.height, image.width], num_channels: image.channels } : { max_position_embeddings: model.maxLen }),
    pathwise: {
      format: 1,
      opset: OPSET,
      task,
      type: spec.type,
      labels: spec.labels,
      inputs: fp32.inputs.map((i: GraphInput) => ({ name: i.name, type: i.type, dims: i.dims })),
      output: { name: 'logits', dims: fp32.outputDims },
      maxLength: image ? null : model.maxLen,
      lexical: path.head.cfg.lexical ?? null,
      prior: path.head.prior ? { buckets: path.head.prior.buckets, file: 'pathwise_prior.json' } : null,
      image: image ? { width: image.width, height: image.height, channels: image.channels, layout: 'NCHW', values: '0-255' } : null,
    },
  };
  files[`${task}/config.json`] = `${JSON.stringify(config, null, 1)}\n`;
  if (!image) {
    files[`${task}/tokenizer.json`] = model.tokenizer.toJsonString();
    files[`${task}/tokenizer_config.json`] = `${JSON.stringify(
      {
        tokenizer_class: 'PreTrainedTokenizerFast',
        model_max_length: model.maxLen,
        cls_token: '[CLS]',
        sep_token: '[SEP]',
        pad_token: '[PAD]',
        unk_token: '[UNK]',
        mask_token: '[MASK]',
      },
      null,
      1,
    )}\n`;
  }
  if (path.head.prior)
    files[`${task}/pathwise_prior.json`] = `${JSON.stringify({ buckets: path.head.prior.buckets, seen: Array.from(priorSeenBuckets(path.head.prior)) })}\n`;
  return { files, report: { task, inputs: fp32.inputs.map((i) => i.name), bytes: model32.length, bytesInt8 } };
}

/** Writes OUT/<task>/... for each task (atomically, the whole folder at once). */
export function exportOnnx(model: TaskModel, out: string, o: OnnxExportOptions = {}): ExportedTask[] {
  const tasks = o.tasks?.length ? [...o.tasks] : [...model.tasks.keys()];
  for (const t of tasks)
    if (!model.tasks.has(t)) throw new RangeError(`--task ${t}: the model has no task "${t}" (it has ${[...model.tasks.keys()].join(', ')})`);
  const files: Record<string, string | Uint8Array> = {};
  const reports: ExportedTask[] = [];
  for (const t of tasks) {
    const { files: f, report } = taskFiles(model, t, o);
    Object.assign(files, f);
    reports.push(report);
  }
  writeDirAtomic(out, files, {
    check: (dir) => {
      readBack(dir, Object.keys(files));
      o.check?.(dir);
    },
  });
  return reports;
}

/**
 * Reads every written graph back as ONNX (onnx-proto) before the folder replaces anything: it must
 * decode, at our opset, with the inputs and the `logits` output its config.json names.
 */
function readBack(dir: string, names: readonly string[]): void {
  for (const name of names.filter((n) => n.endsWith('.onnx'))) {
    const m = onnx.ModelProto.decode(readFileSync(join(dir, name)));
    const config = JSON.parse(readFileSync(join(dir, name.split('/')[0], 'config.json'), 'utf8')) as { pathwise: { inputs: { name: string }[] } };
    const inputs = (m.graph?.input ?? []).map((i) => i.name);
    const outputs = (m.graph?.output ?? []).map((i) => i.name);
    const opset = m.opsetImport.find((x) => !x.domain)?.version;
    if (Number(opset) !== OPSET || outputs.join() !== 'logits' || inputs.join() !== config.pathwise.inputs.map((i) => i.name).join()) {
      throw new Error(`${name}: the written graph does not read back as written (opset ${opset}, inputs ${inputs}, outputs ${outputs})`);
    }
  }
}
