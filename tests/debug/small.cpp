// A small C++ file for `g++ -fsyntax-only` under the debug layer (tests/debug/real_program.sh).
#include <cstdio>
#include <cstring>

template <class T> struct Box {
  T v;
  T get() const { return v; }
};

int main(int argc, char **argv) {
  Box<int> b{argc};
  std::printf("%d %zu\n", b.get(), std::strlen(argv[0]));
  return 0;
}
