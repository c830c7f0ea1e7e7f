// preload/export.h — the only place that defines the standard allocation symbols. Each is a
// one-line call into src/api/libc.h, which holds the libc rules.
#pragma once
#define LFH_EXPORT extern "C" __attribute__((visibility("default")))
