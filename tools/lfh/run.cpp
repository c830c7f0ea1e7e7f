// tools/lfh/run.cpp — `lfh run`: set LD_PRELOAD and the LFH_* debug variables, then exec the
// program (what gflags /p /enable and Driver Verifier do for a Windows image, for one run).
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "verbs.h"

namespace lfh_tool {
namespace {

void fail(const char *fmt, const char *a = "", const char *b = "") {
  std::fprintf(stderr, "lfh run: ");
  std::fprintf(stderr, fmt, a, b);
  std::fprintf(stderr, "\n");
}

bool is_number(const std::string &s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A size: digits with an optional K/M/G/T suffix (and optional "iB"/"B"), as lfh parses it.
bool is_size(const std::string &s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0) return false;
  std::string rest = s.substr(i);
  for (const char *ok : {"", "k", "K", "m", "M", "g", "G", "t", "T", "kb", "KB", "mb", "MB", "gb", "GB", "KiB",
                         "MiB", "GiB", "kib", "mib", "gib", "B", "b"})
    if (rest == ok) return true;
  return false;
}

bool is_range(const std::string &s) {
  std::size_t dash = s.find('-');
  if (dash == std::string::npos || s.find('-', dash + 1) != std::string::npos) return false;
  std::string lo = s.substr(0, dash), hi = s.substr(dash + 1);
  return (lo.empty() || is_size(lo)) && (hi.empty() || is_size(hi)) && !(lo.empty() && hi.empty());
}

bool is_debug_list(const std::string &s) {
  if (s.empty()) return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    std::string w = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (w != "tail" && w != "free" && w != "params" && w != "validate" && w != "all" && w != "off") return false;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

// A fault rate as lfh parses it: a fraction from 0 to 1 ("0.05", ".5", "1") or a percentage
// up to 100 ("5%", "0.5%").
bool is_rate(const std::string &s) {
  std::string v = s;
  bool percent = !v.empty() && v.back() == '%';
  if (percent) v.pop_back();
  if (v.empty() || v == "." || v.find_first_not_of("0123456789.") != std::string::npos) return false;
  if (v.find('.') != v.rfind('.')) return false;
  const double r = std::strtod(v.c_str(), nullptr);
  return r >= 0 && r <= (percent ? 100.0 : 1.0);
}

bool is_seed(const std::string &s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    return s.size() <= 18 && s.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos;
  return is_number(s) && (s.size() < 20 || (s.size() == 20 && s <= "18446744073709551615"));
}

// A comma list of words, each from 1 to `max_len` characters.
bool is_word_list(const std::string &s, std::size_t max_len) {
  if (s.empty()) return false;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = s.find(',', start);
    std::size_t len = (comma == std::string::npos ? s.size() : comma) - start;
    if (len == 0 || len > max_len) return false;
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

bool readable(const std::string &path) { return !path.empty() && access(path.c_str(), R_OK) == 0; }

std::string dir_of(const std::string &path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string absolute(const std::string &path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

// liblfh.so: --library / $LFH_LIBRARY, else next to this executable (the build tree: build/lfh
// and build/liblfh.so), else the installed layout ($prefix/bin/lfh → $prefix/<libdir>/liblfh.so).
std::string find_library(const std::string &given) {
  if (!given.empty()) return readable(given) ? absolute(given) : std::string();
  if (const char *env = getenv("LFH_LIBRARY"); env && *env) return readable(env) ? absolute(env) : std::string();
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {};
  self[n] = 0;
  const std::string dir = dir_of(self);
  for (const std::string &candidate :
       {dir + "/liblfh.so", dir + "/../" LFH_TOOL_LIBDIR "/liblfh.so", dir + "/../lib/liblfh.so",
        dir + "/../lib64/liblfh.so"})
    if (readable(candidate)) return absolute(candidate);
  return {};
}

}  // namespace

void run_help() {
  std::printf(
      "usage: lfh run [OPTIONS] [--] PROGRAM [ARGS...]\n\n"
      "Runs PROGRAM on lfh (LD_PRELOAD=liblfh.so) with the page heap, heap checks and fault\n"
      "injection asked for.\n"
      "Each option sets one LFH_* variable (docs/DEBUGGING.md); variables already in the\n"
      "environment are kept unless an option sets them.\n\n"
      "  --pageheap=off|normal|full  LFH_PAGEHEAP: full puts every block against a no-access\n"
      "                              guard page; normal adds guard bytes and fill patterns\n"
      "  --sample=N                  LFH_PAGEHEAP_SAMPLE: guard one block in N, at random\n"
      "  --underrun                  LFH_PAGEHEAP_UNDERRUN=1: guard page before the block\n"
      "  --sizes=MIN-MAX             LFH_PAGEHEAP_SIZES: guard only blocks of these sizes\n"
      "  --free-delay=BYTES          LFH_PAGEHEAP_FREE_DELAY: freed blocks kept before reuse\n"
      "  --align=N                   LFH_PAGEHEAP_ALIGN: block-end alignment (1: byte-exact)\n"
      "  --debug=LIST                LFH_DEBUG: tail,free,params,validate or all\n"
      "  --on-error=abort|report|ignore  LFH_ON_ERROR: what a detected error does\n"
      "  --backtrace=N               LFH_BACKTRACE: frames recorded per allocation and free\n"
      "  --fault-rate=R              LFH_FAULT_RATE: fail this fraction of allocations on\n"
      "                              purpose (0.05 or 5%%): NULL with ENOMEM, bad_alloc from new\n"
      "  --fault-seed=N              LFH_FAULT_SEED: same seed, same program: same failures\n"
      "                              (default: from the clock; --verbose prints it)\n"
      "  --fault-delay=MS            LFH_FAULT_DELAY_MS: no failure in the first MS ms\n"
      "  --fault-sizes=MIN-MAX       LFH_FAULT_SIZES: only requests of these sizes fail\n"
      "  --fault-tags=A,B            LFH_FAULT_TAGS: only allocations with these pool tags fail\n"
      "  --fault-callers=MOD,...     LFH_FAULT_CALLERS: only allocations called from modules\n"
      "                              whose file name starts so fail (libsqlite3.so,python3)\n"
      "  --stats[=PATH]              LFH_STATS: statistics at exit, on stderr or to PATH (%%p: pid;\n"
      "                              *.json: a JSON snapshot for lfh map --from / lfh diff)\n"
      "  --live                      LFH_STATS_LIVE=1: publish statistics for lfh stat / lfh map\n"
      "  --tags                      LFH_TAGS=1: count allocations per pool tag\n"
      "  --leaks[=PATH]              LFH_LEAKS=1 (or PATH, %%p: the pid): at exit, what was not\n"
      "                              freed, by tag, with the top allocating stacks\n"
      "  --verbose                   LFH_VERBOSE=1, and print the environment set up\n"
      "  --library=PATH              the liblfh.so to preload (default: next to this tool,\n"
      "                              or $prefix/%s for an installed one; or $LFH_LIBRARY)\n\n"
      "exit status: PROGRAM's; 125 bad option or liblfh.so not found, 126 PROGRAM not\n"
      "executable, 127 PROGRAM not found.\n\n"
      "example: lfh run --pageheap=full -- ./myprog arg   (an overrun faults at the bad access)\n"
      "         lfh run --fault-rate=1%% --fault-seed=42 -- ./myprog   (its out-of-memory paths)\n",
      LFH_TOOL_LIBDIR);
}

int run_main(int argc, char **argv) {
  std::vector<std::pair<std::string, std::string>> env;   // variable, value
  std::string library;
  bool verbose = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-h" || a == "--help") {
      run_help();
      return 0;
    }
    if (a.size() < 2 || a[0] != '-') break;   // the program
    std::string name = a, value;
    bool has_value = false;
    if (std::size_t eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    auto need_value = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) {
        fail("%s needs a value (try lfh run --help)", name.c_str());
        return false;
      }
      value = argv[++i];
      return true;
    };
    auto no_value = [&]() -> bool {
      if (!has_value) return true;
      fail("%s takes no value", name.c_str());
      return false;
    };
    if (name == "--pageheap") {
      if (!need_value()) return kExitUsage;
      if (value != "off" && value != "normal" && value != "full") {
        fail("--pageheap must be off, normal or full (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_PAGEHEAP", value);
    } else if (name == "--sample") {
      if (!need_value()) return kExitUsage;
      if (!is_number(value) || value == "0") {
        fail("--sample must be a number of at least 1 (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_PAGEHEAP_SAMPLE", value);
    } else if (name == "--underrun") {
      if (!no_value()) return kExitUsage;
      env.emplace_back("LFH_PAGEHEAP_UNDERRUN", "1");
    } else if (name == "--sizes") {
      if (!need_value()) return kExitUsage;
      if (!is_range(value)) {
        fail("--sizes must be MIN-MAX, MIN- or -MAX (sizes like 64, 4K, 1M; got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_PAGEHEAP_SIZES", value);
    } else if (name == "--free-delay") {
      if (!need_value()) return kExitUsage;
      if (!is_size(value)) {
        fail("--free-delay must be a size like 64M (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_PAGEHEAP_FREE_DELAY", value);
    } else if (name == "--align") {
      if (!need_value()) return kExitUsage;
      unsigned long v = is_number(value) ? std::strtoul(value.c_str(), nullptr, 10) : 0;
      if (v == 0 || v > 4096 || (v & (v - 1)) != 0) {
        fail("--align must be a power of two from 1 to 4096 (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_PAGEHEAP_ALIGN", value);
    } else if (name == "--debug") {
      if (!need_value()) return kExitUsage;
      if (!is_debug_list(value)) {
        fail("--debug must be a comma list of tail, free, params, validate, all (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_DEBUG", value);
    } else if (name == "--on-error") {
      if (!need_value()) return kExitUsage;
      if (value != "abort" && value != "report" && value != "ignore") {
        fail("--on-error must be abort, report or ignore (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_ON_ERROR", value);
    } else if (name == "--backtrace") {
      if (!need_value()) return kExitUsage;
      if (!is_number(value) || std::strtoul(value.c_str(), nullptr, 10) > 64) {
        fail("--backtrace must be a number from 0 to 64 (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_BACKTRACE", value);
    } else if (name == "--fault-rate") {
      if (!need_value()) return kExitUsage;
      if (!is_rate(value)) {
        fail("--fault-rate must be a fraction from 0 to 1 (0.05) or a percentage (5%%) (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_FAULT_RATE", value);
    } else if (name == "--fault-seed") {
      if (!need_value()) return kExitUsage;
      if (!is_seed(value)) {
        fail("--fault-seed must be a number (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_FAULT_SEED", value);
    } else if (name == "--fault-delay") {
      if (!need_value()) return kExitUsage;
      if (!is_number(value)) {
        fail("--fault-delay must be a number of milliseconds (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_FAULT_DELAY_MS", value);
    } else if (name == "--fault-sizes") {
      if (!need_value()) return kExitUsage;
      if (!is_range(value)) {
        fail("--fault-sizes must be MIN-MAX, MIN- or -MAX (sizes like 64, 4K, 1M; got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_FAULT_SIZES", value);
    } else if (name == "--fault-tags") {
      if (!need_value()) return kExitUsage;
      if (!is_word_list(value, 4)) {
        fail("--fault-tags must be a comma list of tags of 1 to 4 characters (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_FAULT_TAGS", value);
    } else if (name == "--fault-callers") {
      if (!need_value()) return kExitUsage;
      if (!is_word_list(value, 63)) {
        fail("--fault-callers must be a comma list of module names such as libsqlite3.so (got '%s')", value.c_str());
        return kExitUsage;
      }
      env.emplace_back("LFH_FAULT_CALLERS", value);
    } else if (name == "--stats") {
      if (has_value && value.empty()) {
        fail("--stats=PATH needs a path");
        return kExitUsage;
      }
      env.emplace_back("LFH_STATS", has_value ? value : "1");
    } else if (name == "--live") {
      if (!no_value()) return kExitUsage;
      env.emplace_back("LFH_STATS_LIVE", "1");
    } else if (name == "--tags") {
      if (!no_value()) return kExitUsage;
      env.emplace_back("LFH_TAGS", "1");
    } else if (name == "--leaks") {
      if (has_value && value.empty()) {
        fail("--leaks=PATH needs a path (or plain --leaks for stderr)");
        return kExitUsage;
      }
      env.emplace_back("LFH_LEAKS", has_value ? value : std::string("1"));
    } else if (name == "--verbose") {
      if (!no_value()) return kExitUsage;
      verbose = true;
      env.emplace_back("LFH_VERBOSE", "1");
    } else if (name == "--library") {
      if (!need_value()) return kExitUsage;
      library = value;
    } else {
      fail("unknown option %s (try lfh run --help)", name.c_str());
      return kExitUsage;
    }
  }
  if (i >= argc) {
    fail("no program to run (usage: lfh run [OPTIONS] -- PROGRAM [ARGS...])");
    return kExitUsage;
  }
  std::string lib = find_library(library);
  if (lib.empty()) {
    if (!library.empty()) fail("cannot read the library %s", library.c_str());
    else fail("cannot find liblfh.so (next to this tool, in ../%s, or in $LFH_LIBRARY); use --library=PATH", LFH_TOOL_LIBDIR);
    return kExitUsage;
  }
  std::string preload = lib;
  if (const char *old = getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
  env.emplace_back("LD_PRELOAD", preload);
  for (const auto &[k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  if (verbose) {
    std::string line = "lfh run:";
    for (const auto &[k, v] : env) line += " " + k + "=" + v;
    line += " --";
    for (int j = i; j < argc; ++j) line += std::string(" ") + argv[j];
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  execvp(argv[i], argv + i);
  int err = errno;
  fail("%s: %s", argv[i], std::strerror(err));
  return err == ENOENT ? kExitNotFound : kExitCannotRun;
}

}  // namespace lfh_tool
