{
  "variables": {
    # Set by scripts/build-native.mjs when cblas.h / libopenblas live outside the default paths.
    "pw_blas_include%": "",
    "pw_blas_libdir%": ""
  },
  "targets": [
    {
      "target_name": "pathwise",
      "sources": ["native/pathwise.cc", "native/kernels.cc", "native/int8.cc", "native/attention.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags": ["-O3", "-march=native", "-fno-math-errno"],
      "cflags_cc": ["-std=c++17"],
      "libraries": ["-lopenblas"],
      "conditions": [
        ["pw_blas_include!=''", { "include_dirs": ["<(pw_blas_include)"] }],
        ["pw_blas_libdir!=''", {
          "library_dirs": ["<(pw_blas_libdir)"],
          "ldflags": ["-Wl,-rpath,<(pw_blas_libdir)"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CFLAGS": ["-O3", "-march=native", "-fno-math-errno"]
          }
        }]
      ]
    }
  ]
}
