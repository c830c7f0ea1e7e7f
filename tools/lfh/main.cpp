// tools/lfh/main.cpp — `lfh VERB ...`: dispatch to the verb's file.
#include <cstdio>
#include <cstring>

#include "verbs.h"

namespace {

struct Verb {
  const char *name;
  int (*main)(int, char **);
  void (*help)();
  const char *summary;
};

const Verb kVerbs[] = {
    {"run", lfh_tool::run_main, lfh_tool::run_help,
     "run a program on lfh with the page heap / heap checks on (like gflags + Driver Verifier)"},
    {"stat", lfh_tool::stat_main, lfh_tool::stat_help,
     "a live process's heaps, buckets and tags, refreshing (like poolmon; LFH_STATS_LIVE=1)"},
    {"map", lfh_tool::map_main, lfh_tool::map_help,
     "draw the address space as lfh sees it, as SVG or HTML (like VMMap)"},
    {"diff", lfh_tool::diff_main, lfh_tool::diff_help, "what grew between two JSON statistics snapshots"},
};

void usage(std::FILE *out) {
  std::fprintf(out,
               "usage: lfh VERB [OPTIONS] ...\n"
               "       lfh help VERB | lfh --help | lfh --version\n\n"
               "verbs:\n");
  for (const Verb &v : kVerbs) std::fprintf(out, "  %-6s %s\n", v.name, v.summary);
  std::fprintf(out,
               "\nexit status: lfh run exits with the program's status; 125 bad command line or\n"
               "  liblfh.so not found, 126 program not executable, 127 program not found.\n"
               "  stat, map, diff: 0 ok, 1 bad command line, 2 no such process / no live segment /\n"
               "  not an lfh snapshot, 3 cannot write the output. Errors are one line: lfh: ...\n");
}

const Verb *find(const char *name) {
  for (const Verb &v : kVerbs)
    if (std::strcmp(v.name, name) == 0) return &v;
  return nullptr;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return lfh_tool::kExitUsage;
  }
  const char *verb = argv[1];
  if (!std::strcmp(verb, "--help") || !std::strcmp(verb, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!std::strcmp(verb, "--version")) {
    std::printf("lfh %s\n", LFH_TOOL_VERSION);
    return 0;
  }
  if (!std::strcmp(verb, "help")) {
    if (argc < 3) {
      usage(stdout);
      return 0;
    }
    if (const Verb *v = find(argv[2])) {
      v->help();
      return 0;
    }
    std::fprintf(stderr, "lfh: no verb '%s' (try lfh --help)\n", argv[2]);
    return lfh_tool::kExitUsage;
  }
  if (const Verb *v = find(verb)) return v->main(argc - 1, argv + 1);
  std::fprintf(stderr, "lfh: no verb '%s' (try lfh --help)\n", verb);
  return lfh_tool::kExitUsage;
}
