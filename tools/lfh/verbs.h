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

// Verbs that read what lfh publishes; their exit codes are model.h's (0 ok, 1 usage, 2 no such
// process / no live segment / not lfh's, 3 cannot write).
int stat_main(int argc, char **argv);   // `lfh stat PID`
void stat_help();
int map_main(int argc, char **argv);    // `lfh map PID|--from FILE -o OUT.svg`
void map_help();
int diff_main(int argc, char **argv);   // `lfh diff A.json B.json`
void diff_help();

}  // namespace lfh_tool
