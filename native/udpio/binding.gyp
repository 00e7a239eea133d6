{
  "targets": [
    {
      "target_name": "udpio",
      "sources": ["udpio.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
