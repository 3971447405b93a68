// ASan defaults for the fuzz targets (ASAN_OPTIONS in the environment still overrides each key).
// A whole case allocates and frees a few hundred kilobytes (role maps, snapshots, the reference's outputs); with
// the default 256 MiB quarantine every allocation lands on fresh pages, and page faults were a tenth of the
// target's time. 16 MiB still holds many cases' worth of freed memory for use-after-free detection.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16"; }
