#!/usr/bin/env bash
# The layering rules of DESIGN.md, checked on the sources and on the built core (liblfh_internal.a):
#  1. only src/os/ includes system headers and makes system calls;
#  2. only preload/ defines the standard allocation symbols (the core defines none);
#  3. the core never calls malloc & co., operator new/delete, exceptions or stdio (which may
#     allocate): nothing on lfh's own paths may re-enter an allocator.
#
#   check_layering.sh <source root> <path of liblfh_internal.a>
set -u
root=$1 lib=$2
status=0
complain() { echo "FAILED: $*"; status=1; }

# Source lines outside src/os/, with // comments stripped.
code_outside_os() {
  find "$root/src" \( -name '*.h' -o -name '*.cpp' \) -not -path "$root/src/os/*" -print0 |
    xargs -0 grep -nH '' | sed -e 's://.*$::'
}

lines=$(code_outside_os)
hits=$(grep -E '#include <(sys/|unistd\.h|fcntl\.h|sched\.h|pthread\.h|dlfcn\.h|signal\.h|linux/|asm/)' <<<"$lines")
[ -z "$hits" ] || complain "system headers outside src/os/:"$'\n'"$hits"
hits=$(grep -E '(^|[^:_a-zA-Z0-9.>])(mmap|munmap|mprotect|madvise|mincore|mlock|munlock|mremap|syscall|getrandom|sched_getcpu|sched_yield|pthread_[a-z_]+|clock_gettime|getpid|sysconf|open|read|write|close)[[:space:]]*\(' <<<"$lines" |
  grep -vE '(::|\.|->)(open|read|write|close)\(' )
[ -z "$hits" ] || complain "system calls outside src/os/:"$'\n'"$hits"

# Symbols the core defines and the ones it needs from outside.
defined=$(nm --defined-only "$lib" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TWV]/ {print $3}' | sort -u)
needed=$(comm -23 <(nm -u "$lib" 2>/dev/null | awk 'NF == 2 {print $2}' | sort -u) \
                  <(nm --defined-only "$lib" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u))
[ -n "$defined" ] || complain "cannot read symbols of $lib"

std_names='^(malloc|free|cfree|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|__libc_[a-z_]+|_Zn[wa][a-zA-Z0-9_]*|_Zd[la][a-zA-Z0-9_]*)$'
hits=$(grep -E "$std_names" <<<"$defined")
[ -z "$hits" ] || complain "the core defines standard allocation symbols (only preload/ may):"$'\n'"$hits"

allocating='^(malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|strdup|strndup|_Zn[wa][a-zA-Z0-9_]*|_Zd[la][a-zA-Z0-9_]*|__cxa_throw|__cxa_allocate_exception|_ZSt[0-9]+__throw_[a-z_]+.*|printf|fprintf|sprintf|snprintf|vsnprintf|vfprintf|asprintf|fopen|fputs|puts|getenv|qsort)$'
hits=$(grep -E "$allocating" <<<"$needed")
[ -z "$hits" ] || complain "the core calls functions that allocate or throw:"$'\n'"$hits"

[ $status -eq 0 ] && echo "layering: ok ($(wc -l <<<"$defined") symbols defined, $(wc -l <<<"$needed") needed from outside)"
exit $status
