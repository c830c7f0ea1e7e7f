// wl_measure — runs one command and reports its wall time and peak RSS, measured cleanly.
//
//   wl_measure [--preload LIB] [--env NAME=VALUE]... [--stdin FILE] -- COMMAND [ARGS...]
//
// Prints, as the last line on stderr, after the command has exited:
//   MEASURE exit=N seconds=S maxrss_kb=K
// and exits with the command's status (128 + signal number if it was killed by a signal).
//
// Why a separate launcher: the peak RSS the kernel reports for a process (ru_maxrss) includes the
// RSS of the process it was forked from at the moment of the fork, carried over through exec. A
// command started straight from the Python driver would "inherit" the driver's tens of megabytes.
// This launcher is small: the command it forks starts from its few hundred kilobytes, and the
// rusage wait4() returns for it covers the command and the children it waited for (cc1plus under
// g++). LD_PRELOAD is set only in the child (--preload), so the launcher itself runs on glibc.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  const char *preload = nullptr, *stdin_file = nullptr;
  int i = 1;
  for (; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--") ) {
      ++i;
      break;
    }
    if (!std::strcmp(argv[i], "--preload") && i + 1 < argc) {
      preload = argv[++i];
    } else if (!std::strcmp(argv[i], "--env") && i + 1 < argc) {
      if (putenv(argv[++i]) != 0) return 125;
    } else if (!std::strcmp(argv[i], "--stdin") && i + 1 < argc) {
      stdin_file = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--preload LIB] [--env N=V]... [--stdin FILE] -- COMMAND [ARGS...]\n", argv[0]);
      return 125;
    }
  }
  if (i >= argc) {
    std::fprintf(stderr, "%s: no command\n", argv[0]);
    return 125;
  }
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return 125;
  }
  if (pid == 0) {
    if (preload)
      setenv("LD_PRELOAD", preload, 1);
    else
      unsetenv("LD_PRELOAD");
    if (stdin_file) {
      int fd = open(stdin_file, O_RDONLY);
      if (fd < 0 || dup2(fd, 0) < 0) {
        std::perror(stdin_file);
        _exit(126);
      }
      close(fd);
    }
    execvp(argv[i], argv + i);
    std::fprintf(stderr, "%s: %s\n", argv[i], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      std::perror("wait4");
      return 125;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = static_cast<double>(t1.tv_sec - t0.tv_sec) + static_cast<double>(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::fprintf(stderr, "\nMEASURE exit=%d seconds=%.4f maxrss_kb=%ld\n", code, secs, ru.ru_maxrss);
  return code;
}
