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
};

void usage(std::FILE *out) {
  std::fprintf(out,
               "usage: lfh VERB [OPTIONS] ...\n"
               "       lfh help VERB | lfh --help | lfh --version\n\n"
               "verbs:\n");
  for (const Verb &v : kVerbs) std::fprintf(out, "  %-6s %s\n", v.name, v.summary);
  std::fprintf(out,
               "\nexit status: a verb that runs a program exits with the program's status;\n"
               "  125 bad command line or liblfh.so not found, 126 program not executable,\n"
               "  127 program not found.\n");
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
