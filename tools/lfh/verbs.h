// tools/lfh/verbs.h — the verbs of the `lfh` command, one file each.
#pragma once

namespace lfh_tool {

// Exit codes of the tool itself (a verb that runs a program returns the program's status).
inline constexpr int kExitUsage = 125;       // bad command line, library not found
inline constexpr int kExitCannotRun = 126;   // the program exists but cannot be executed
inline constexpr int kExitNotFound = 127;    // no such program

// `lfh run [OPTIONS] -- PROGRAM ARGS...`: argv[0] is "run".
int run_main(int argc, char **argv);
void run_help();

}  // namespace lfh_tool
