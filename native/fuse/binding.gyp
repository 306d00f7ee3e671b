{
  "targets": [{
    "target_name": "hexz_fuse",
    "sources": ["hexz_fuse.c"],
    "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags fuse3)"],
    "libraries": ["<!@(pkg-config --libs fuse3)"]
  }]
}
