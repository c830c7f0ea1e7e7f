// options_doc — the README's environment-variable table comes from the one option table
// (src/base/options.h). `options_doc --markdown` prints the rows; `options_doc --check README.md`
// fails when a row of the README differs from what the table says (so docs cannot drift).
#include <cstdio>
#include <cstring>
#include <string>

#include "base/options.h"

namespace {

const char *kind_name(lfh::OptKind k) {
  switch (k) {
    case lfh::OptKind::kBool: return "bool";
    case lfh::OptKind::kInt: return "int";
    case lfh::OptKind::kSize: return "size";
    case lfh::OptKind::kString: return "string";
  }
  return "?";
}

std::string default_text(const lfh::OptionInfo &o) {
  if (o.kind == lfh::OptKind::kString) return o.def ? std::to_string(o.def) : "unset";
  if (o.kind == lfh::OptKind::kSize && o.def && o.def % 1048576 == 0) return std::to_string(o.def / 1048576) + "M";
  if (o.kind == lfh::OptKind::kSize && o.def && o.def % 1024 == 0) return std::to_string(o.def / 1024) + "K";
  return std::to_string(o.def);
}

std::string row(const lfh::OptionInfo &o) {
  return "| `" + std::string(o.env) + "` | " + kind_name(o.kind) + " | " + default_text(o) + " | " + o.help + " |";
}

}  // namespace

int main(int argc, char **argv) {
  const std::size_t n = static_cast<std::size_t>(lfh::Opt::kCount);
  if (argc == 2 && std::strcmp(argv[1], "--markdown") == 0) {
    std::puts("| variable | type | default | meaning |");
    std::puts("| --- | --- | --- | --- |");
    for (std::size_t i = 0; i < n; ++i) std::puts(row(lfh::option_info(static_cast<lfh::Opt>(i))).c_str());
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--check") == 0) {
    FILE *f = std::fopen(argv[2], "r");
    if (!f) {
      std::fprintf(stderr, "options_doc: cannot read %s\n", argv[2]);
      return 2;
    }
    std::string text;
    char buf[4096];
    std::size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, got);
    std::fclose(f);
    int missing = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::string r = row(lfh::option_info(static_cast<lfh::Opt>(i)));
      if (text.find(r) == std::string::npos) {
        std::fprintf(stderr, "README lacks (or differs from) the row:\n%s\n", r.c_str());
        ++missing;
      }
    }
    std::printf("%zu option rows checked, %d missing\n", n, missing);
    return missing ? 1 : 0;
  }
  std::fprintf(stderr, "usage: options_doc --markdown | --check README.md\n");
  return 2;
}
