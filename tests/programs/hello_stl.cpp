// A small C++ program for the compiler test: the compiler's own run is what is being tested.
#include <iostream>
#include <map>
#include <string>
#include <vector>

int main() {
  std::map<std::string, std::vector<int>> index;
  const std::string words[] = {"alpha", "beta", "gamma", "delta", "alpha", "gamma", "alpha"};
  int position = 0;
  for (const std::string &w : words) index[w].push_back(position++);
  for (const auto &[word, where] : index) {
    std::cout << word << ':';
    for (int i : where) std::cout << ' ' << i;
    std::cout << '\n';
  }
  return 0;
}
