// tools/lfh/json.cpp — see json.h. A recursive-descent parser; depth is bounded.
#include "json.h"

#include <cstdlib>

namespace lfh_tool {

const Json *Json::get(const std::string &key) const {
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &values[i];
  return nullptr;
}

std::uint64_t Json::u64(const std::string &key, std::uint64_t def) const {
  const Json *v = get(key);
  if (!v) return def;
  if (v->kind == kNumber) return v->u;
  if (v->kind == kString) return std::strtoull(v->str.c_str(), nullptr, 0);   // "0x…" addresses
  return def;
}

std::string Json::text(const std::string &key) const {
  const Json *v = get(key);
  return v && v->kind == kString ? v->str : std::string();
}

namespace {

struct Parser {
  explicit Parser(const std::string &text) : s(text) {}
  const std::string &s;
  std::size_t i = 0;
  std::string err;

  bool fail(const std::string &what) {
    if (err.empty()) {
      int line = 1;
      for (std::size_t k = 0; k < i && k < s.size(); ++k) line += s[k] == '\n';
      err = "line " + std::to_string(line) + ": " + what;
    }
    return false;
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  bool lit(const char *w) {
    std::size_t n = 0;
    while (w[n]) ++n;
    if (s.compare(i, n, w) != 0) return false;
    i += n;
    return true;
  }
  bool string(std::string *out) {
    if (i >= s.size() || s[i] != '"') return fail("expected a string");
    ++i;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (c == '\\') {
        if (i >= s.size()) break;
        char e = s[i++];
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'b': c = '\b'; break;
          case 'f': c = '\f'; break;
          case 'u':
            if (i + 4 > s.size()) return fail("bad \\u escape");
            c = char(std::strtoul(s.substr(i, 4).c_str(), nullptr, 16) & 0x7f);   // ASCII is all we write
            i += 4;
            break;
          default: c = e;
        }
      }
      out->push_back(c);
    }
    if (i >= s.size()) return fail("unterminated string");
    ++i;
    return true;
  }
  bool value(Json *out, int depth) {
    if (depth > 64) return fail("nested too deeply");
    ws();
    if (i >= s.size()) return fail("unexpected end");
    const char c = s[i];
    if (c == '{') {
      ++i;
      out->kind = Json::kObject;
      ws();
      if (i < s.size() && s[i] == '}') return ++i, true;
      for (;;) {
        ws();
        std::string key;
        if (!string(&key)) return false;
        ws();
        if (i >= s.size() || s[i] != ':') return fail("expected ':'");
        ++i;
        Json v;
        if (!value(&v, depth + 1)) return false;
        out->keys.push_back(std::move(key));
        out->values.push_back(std::move(v));
        ws();
        if (i < s.size() && s[i] == ',') { ++i; continue; }
        if (i < s.size() && s[i] == '}') return ++i, true;
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      ++i;
      out->kind = Json::kArray;
      ws();
      if (i < s.size() && s[i] == ']') return ++i, true;
      for (;;) {
        Json v;
        if (!value(&v, depth + 1)) return false;
        out->items.push_back(std::move(v));
        ws();
        if (i < s.size() && s[i] == ',') { ++i; continue; }
        if (i < s.size() && s[i] == ']') return ++i, true;
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      out->kind = Json::kString;
      return string(&out->str);
    }
    if (lit("true")) { out->kind = Json::kBool; out->b = true; return true; }
    if (lit("false")) { out->kind = Json::kBool; return true; }
    if (lit("null")) return true;
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t start = i;
      if (s[i] == '-') ++i;
      bool integer = true;
      while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                              s[i] == '+' || s[i] == '-')) {
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') integer = false;
        ++i;
      }
      const std::string t = s.substr(start, i - start);
      out->kind = Json::kNumber;
      out->num = std::strtod(t.c_str(), nullptr);
      out->u = integer && t[0] != '-' ? std::strtoull(t.c_str(), nullptr, 10) : std::uint64_t(out->num < 0 ? 0 : out->num);
      return true;
    }
    return fail(std::string("unexpected character '") + c + "'");
  }
};

}  // namespace

bool parse_json(const std::string &text, Json *out, std::string *error) {
  Parser p(text);
  if (!p.value(out, 0)) {
    *error = p.err;
    return false;
  }
  p.ws();
  if (p.i != text.size()) {
    p.fail("text after the JSON value");
    *error = p.err;
    return false;
  }
  return true;
}

}  // namespace lfh_tool
