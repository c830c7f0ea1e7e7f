// lisp — a small Lisp interpreter allocating cons cells, boxed numbers, closures and strings, with
// a Lua-style mark-and-sweep collector that frees dead objects one by one (each object is its own
// malloc block, as in Lua or a refcount-free Python object graph).
//
// A prelude defines list and string functions in Lisp (map, filter, fold, merge sort, string
// joining); then the driver evaluates (step i) for many i. Each step builds a pseudo-random list,
// maps, sorts, filters it and joins it into a string with string-append (strings of 1 to ~700
// bytes), and returns a number. Garbage is collected between steps whenever enough has been
// allocated since the last collection (Lua's default pause: when the heap has doubled, at least
// 2 MB). Steps are interleaved over the threads; each thread runs its own interpreter.
// Check: every step's result equals the same computation done in C++.
#include <algorithm>
#include <string>
#include <unordered_map>

#include "common.h"

namespace {

enum class T : std::uint8_t { Nil, Int, Sym, Cons, Str, Prim, Closure };

struct Obj {
  T type;
  bool mark;
  Obj *gc_next;
};
struct Int : Obj {
  std::int64_t v;
};
struct Cons : Obj {
  Obj *car, *cdr;
};
struct Str : Obj {
  char *s;
  std::size_t len;
};
struct Sym : Obj {
  std::string name;
  Obj *value;  // global binding or nullptr
};
class Interp;
using PrimFn = Obj *(*)(Interp &, Obj *args);
struct Prim : Obj {
  PrimFn fn;
  const char *name;
};
struct Closure : Obj {
  Obj *params, *body, *env;
};

class Interp {
 public:
  Interp() {
    nil_ = static_cast<Obj *>(std::malloc(sizeof(Obj)));
    nil_->type = T::Nil;
    nil_->mark = true;
    nil_->gc_next = nullptr;
    s_quote_ = intern("quote");
    s_if_ = intern("if");
    s_define_ = intern("define");
    s_lambda_ = intern("lambda");
    s_let_ = intern("let");
    s_begin_ = intern("begin");
    t_ = intern("t");
    t_->value = t_;
    define_primitives();
  }
  ~Interp() {
    for (auto &kv : symbols_) kv.second->value = nullptr;
    collect();  // nothing is reachable any more: frees every object
    for (auto &kv : symbols_) {
      kv.second->~Sym();
      std::free(kv.second);
    }
    std::free(nil_);
  }
  Interp(const Interp &) = delete;
  Interp &operator=(const Interp &) = delete;

  // ---- objects ----
  template <class O>
  O *alloc(T type) {
    O *o = static_cast<O *>(std::malloc(sizeof(O)));
    if (!o) std::abort();
    o->type = type;
    o->mark = false;
    o->gc_next = objects_;
    objects_ = o;
    allocated_ += sizeof(O);
    return o;
  }
  Obj *nil() const { return nil_; }
  Obj *truth(bool b) { return b ? t_ : nil_; }
  Obj *make_int(std::int64_t v) {
    Int *o = alloc<Int>(T::Int);
    o->v = v;
    return o;
  }
  Obj *cons(Obj *a, Obj *d) {
    Cons *o = alloc<Cons>(T::Cons);
    o->car = a;
    o->cdr = d;
    return o;
  }
  Obj *make_str(const char *s, std::size_t n) {
    Str *o = alloc<Str>(T::Str);
    o->s = static_cast<char *>(std::malloc(n + 1));
    if (!o->s) std::abort();
    std::memcpy(o->s, s, n);
    o->s[n] = 0;
    o->len = n;
    allocated_ += n + 1;
    return o;
  }
  Sym *intern(const std::string &name) {
    auto it = symbols_.find(name);
    if (it != symbols_.end()) return it->second;
    Sym *s = static_cast<Sym *>(std::malloc(sizeof(Sym)));
    new (s) Sym();
    s->type = T::Sym;
    s->mark = true;
    s->gc_next = nullptr;
    s->name = name;
    s->value = nullptr;
    symbols_.emplace(name, s);
    return s;
  }

  static Obj *car(Obj *o) { return o->type == T::Cons ? static_cast<Cons *>(o)->car : o; }
  static Obj *cdr(Obj *o) { return o->type == T::Cons ? static_cast<Cons *>(o)->cdr : o; }
  std::int64_t num(Obj *o) {
    if (o->type != T::Int) error("not a number");
    return static_cast<Int *>(o)->v;
  }
  Str *str(Obj *o) {
    if (o->type != T::Str) error("not a string");
    return static_cast<Str *>(o);
  }
  [[noreturn]] void error(const char *what) {
    std::fprintf(stderr, "lisp error: %s\n", what);
    std::exit(3);
  }

  // ---- reader ----
  Obj *read(const char *&p) {
    skip(p);
    if (!*p) return nullptr;
    if (*p == '(') {
      ++p;
      return read_list(p);
    }
    if (*p == ')') error("unexpected )");
    if (*p == '\'') {
      ++p;
      Obj *q = read(p);
      return cons(s_quote_, cons(q, nil_));
    }
    if (*p == '"') {
      const char *b = ++p;
      while (*p && *p != '"') ++p;
      Obj *s = make_str(b, static_cast<std::size_t>(p - b));
      if (*p) ++p;
      return s;
    }
    const char *b = p;
    while (*p && !std::strchr("() \t\n'\"", *p)) ++p;
    std::string tok(b, static_cast<std::size_t>(p - b));
    bool digits = !tok.empty();
    for (std::size_t i = (tok[0] == '-' && tok.size() > 1) ? 1 : 0; i < tok.size(); ++i)
      if (tok[i] < '0' || tok[i] > '9') digits = false;
    if (digits) return make_int(std::strtoll(tok.c_str(), nullptr, 10));
    return intern(tok);
  }
  Obj *read_list(const char *&p) {
    skip(p);
    if (!*p) error("missing )");
    if (*p == ')') {
      ++p;
      return nil_;
    }
    Obj *head = read(p);
    Obj *tail = read_list(p);
    return cons(head, tail);
  }
  static void skip(const char *&p) {
    for (;;) {
      while (*p == ' ' || *p == '\n' || *p == '\t') ++p;
      if (*p != ';') return;
      while (*p && *p != '\n') ++p;
    }
  }

  // ---- evaluator ----
  Obj *lookup(Sym *s, Obj *env) {
    for (Obj *f = env; f->type == T::Cons; f = cdr(f))
      for (Obj *b = car(f); b->type == T::Cons; b = cdr(b))
        if (car(car(b)) == s) return cdr(car(b));
    if (!s->value) {
      std::fprintf(stderr, "lisp error: unbound %s\n", s->name.c_str());
      std::exit(3);
    }
    return s->value;
  }
  Obj *eval_body(Obj *body, Obj *env) {
    Obj *r = nil_;
    for (; body->type == T::Cons; body = cdr(body)) r = eval(car(body), env);
    return r;
  }
  Obj *eval(Obj *x, Obj *env) {
    switch (x->type) {
      case T::Sym:
        return lookup(static_cast<Sym *>(x), env);
      case T::Cons:
        break;
      default:
        return x;
    }
    Obj *op = car(x), *rest = cdr(x);
    if (op == s_quote_) return car(rest);
    if (op == s_if_) {
      if (eval(car(rest), env) != nil_) return eval(car(cdr(rest)), env);
      return eval(car(cdr(cdr(rest))), env);
    }
    if (op == s_define_) {
      Obj *target = car(rest);
      if (target->type == T::Cons) {  // (define (f args...) body...)
        Closure *c = alloc<Closure>(T::Closure);
        c->params = cdr(target);
        c->body = cdr(rest);
        c->env = env;
        static_cast<Sym *>(car(target))->value = c;
      } else {
        static_cast<Sym *>(target)->value = eval(car(cdr(rest)), env);
      }
      return nil_;
    }
    if (op == s_lambda_) {
      Closure *c = alloc<Closure>(T::Closure);
      c->params = car(rest);
      c->body = cdr(rest);
      c->env = env;
      return c;
    }
    if (op == s_let_) {  // (let ((v e) ...) body...)
      Obj *frame = nil_;
      for (Obj *b = car(rest); b->type == T::Cons; b = cdr(b))
        frame = cons(cons(car(car(b)), eval(car(cdr(car(b))), env)), frame);
      return eval_body(cdr(rest), cons(frame, env));
    }
    if (op == s_begin_) return eval_body(rest, env);
    Obj *f = eval(op, env);
    Obj *args = nil_, **tail = &args;
    for (Obj *a = rest; a->type == T::Cons; a = cdr(a)) {
      *tail = cons(eval(car(a), env), nil_);
      tail = &static_cast<Cons *>(*tail)->cdr;
    }
    return apply(f, args);
  }
  Obj *apply(Obj *f, Obj *args) {
    if (f->type == T::Prim) return static_cast<Prim *>(f)->fn(*this, args);
    if (f->type != T::Closure) error("not a function");
    Closure *c = static_cast<Closure *>(f);
    Obj *frame = nil_;
    Obj *p = c->params, *a = args;
    for (; p->type == T::Cons; p = cdr(p), a = cdr(a)) frame = cons(cons(car(p), car(a)), frame);
    return eval_body(c->body, cons(frame, c->env));
  }
  Obj *eval_string(const char *src) {
    Obj *r = nil_;
    const char *p = src;
    while (Obj *x = read(p)) r = eval(x, nil_);
    return r;
  }

  // ---- collector: roots are the global bindings (collection only happens between steps) ----
  void mark(Obj *o) {
    while (o && !o->mark) {
      o->mark = true;
      switch (o->type) {
        case T::Cons:
          mark(static_cast<Cons *>(o)->car);
          o = static_cast<Cons *>(o)->cdr;
          break;
        case T::Closure:
          mark(static_cast<Closure *>(o)->params);
          mark(static_cast<Closure *>(o)->body);
          o = static_cast<Closure *>(o)->env;
          break;
        default:
          return;
      }
    }
  }
  void collect() {
    for (auto &kv : symbols_) mark(kv.second->value);
    std::size_t live = 0;
    Obj **link = &objects_;
    while (Obj *o = *link) {
      if (o->mark) {
        o->mark = false;
        live += size_of(o);
        link = &o->gc_next;
        continue;
      }
      *link = o->gc_next;
      if (o->type == T::Str) std::free(static_cast<Str *>(o)->s);
      std::free(o);
    }
    allocated_ = 0;
    threshold_ = std::max<std::size_t>(2 << 20, live);
    ++collections_;
  }
  void maybe_collect() {
    if (allocated_ > threshold_) collect();
  }
  static std::size_t size_of(Obj *o) {
    switch (o->type) {
      case T::Int: return sizeof(Int);
      case T::Cons: return sizeof(Cons);
      case T::Str: return sizeof(Str) + static_cast<Str *>(o)->len + 1;
      case T::Closure: return sizeof(Closure);
      case T::Prim: return sizeof(Prim);
      default: return sizeof(Obj);
    }
  }
  std::uint64_t collections() const { return collections_; }

 private:
  void defprim(const char *name, PrimFn fn) {
    Prim *p = alloc<Prim>(T::Prim);
    p->fn = fn;
    p->name = name;
    intern(name)->value = p;
  }
  void define_primitives();

  Obj *nil_ = nullptr;
  Obj *objects_ = nullptr;
  std::size_t allocated_ = 0, threshold_ = 2 << 20;
  std::uint64_t collections_ = 0;
  std::unordered_map<std::string, Sym *> symbols_;
  Sym *s_quote_, *s_if_, *s_define_, *s_lambda_, *s_let_, *s_begin_, *t_;
};

void Interp::define_primitives() {
  defprim("+", [](Interp &in, Obj *a) {
    std::int64_t s = 0;
    for (; a->type == T::Cons; a = cdr(a)) s += in.num(car(a));
    return in.make_int(s);
  });
  defprim("-", [](Interp &in, Obj *a) { return in.make_int(in.num(car(a)) - in.num(car(cdr(a)))); });
  defprim("*", [](Interp &in, Obj *a) { return in.make_int(in.num(car(a)) * in.num(car(cdr(a)))); });
  defprim("mod", [](Interp &in, Obj *a) { return in.make_int(in.num(car(a)) % in.num(car(cdr(a)))); });
  defprim("=", [](Interp &in, Obj *a) { return in.truth(in.num(car(a)) == in.num(car(cdr(a)))); });
  defprim("<", [](Interp &in, Obj *a) { return in.truth(in.num(car(a)) < in.num(car(cdr(a)))); });
  defprim("cons", [](Interp &in, Obj *a) { return in.cons(car(a), car(cdr(a))); });
  defprim("car", [](Interp &, Obj *a) { return car(car(a)); });
  defprim("cdr", [](Interp &, Obj *a) { return cdr(car(a)); });
  defprim("null?", [](Interp &in, Obj *a) { return in.truth(car(a) == in.nil()); });
  defprim("number->string", [](Interp &in, Obj *a) {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(in.num(car(a))));
    return in.make_str(buf, static_cast<std::size_t>(n));
  });
  defprim("string-append", [](Interp &in, Obj *a) {
    std::size_t n = 0;
    for (Obj *x = a; x->type == T::Cons; x = cdr(x)) n += in.str(car(x))->len;
    Str *r = static_cast<Str *>(in.make_str("", 0));
    std::free(r->s);
    r->s = static_cast<char *>(std::malloc(n + 1));
    if (!r->s) std::abort();
    r->len = n;
    in.allocated_ += n;
    char *w = r->s;
    for (Obj *x = a; x->type == T::Cons; x = cdr(x)) {
      Str *s = in.str(car(x));
      std::memcpy(w, s->s, s->len);
      w += s->len;
    }
    *w = 0;
    return static_cast<Obj *>(r);
  });
  defprim("string-length", [](Interp &in, Obj *a) { return in.make_int(static_cast<std::int64_t>(in.str(car(a))->len)); });
}

const char *kPrelude = R"LISP(
(define (rand-list n seed)
  (if (= n 0) '()
      (let ((s (mod (+ (* seed 1103515245) 12345) 2147483648)))
        (cons (mod s 1000) (rand-list (- n 1) s)))))
(define (map f l) (if (null? l) '() (cons (f (car l)) (map f (cdr l)))))
(define (filter p l)
  (if (null? l) '()
      (if (p (car l)) (cons (car l) (filter p (cdr l))) (filter p (cdr l)))))
(define (foldl f acc l) (if (null? l) acc (foldl f (f acc (car l)) (cdr l))))
(define (length l) (foldl (lambda (n x) (+ n 1)) 0 l))
(define (take l k) (if (= k 0) '() (if (null? l) '() (cons (car l) (take (cdr l) (- k 1))))))
(define (merge a b)
  (if (null? a) b
      (if (null? b) a
          (if (< (car b) (car a))
              (cons (car b) (merge a (cdr b)))
              (cons (car a) (merge (cdr a) b))))))
(define (split l)
  (if (null? l) (cons '() '())
      (if (null? (cdr l)) (cons l '())
          (let ((r (split (cdr (cdr l)))))
            (cons (cons (car l) (car r)) (cons (car (cdr l)) (cdr r)))))))
(define (msort l)
  (if (null? l) l
      (if (null? (cdr l)) l
          (let ((p (split l))) (merge (msort (car p)) (msort (cdr p)))))))
(define (join l)
  (if (null? l) ""
      (if (null? (cdr l)) (number->string (car l))
          (string-append (number->string (car l)) "," (join (cdr l))))))
(define (step i)
  (let ((l (rand-list (+ 40 (mod i 80)) i)))
    (let ((s (msort (map (lambda (x) (+ (* x 7) (mod x 13))) l))))
      (let ((odd (filter (lambda (x) (= (mod x 2) 1)) s)))
        (+ (foldl + 0 (take s 10)) (* 1000 (length odd)) (* 1000000 (string-length (join s))))))))
)LISP";

// The same computation in C++.
std::int64_t step_reference(std::int64_t i) {
  std::int64_t n = 40 + i % 80, s = i;
  std::vector<std::int64_t> v;
  for (std::int64_t k = 0; k < n; ++k) {
    s = (s * 1103515245 + 12345) % 2147483648LL;
    std::int64_t x = s % 1000;
    v.push_back(x * 7 + x % 13);
  }
  std::sort(v.begin(), v.end());
  std::int64_t sum10 = 0, odd = 0, len = 0;
  for (std::size_t k = 0; k < v.size(); ++k) {
    if (k < 10) sum10 += v[k];
    if (v[k] % 2 == 1) ++odd;
    len += static_cast<std::int64_t>(std::to_string(v[k]).size()) + (k ? 1 : 0);
  }
  return sum10 + 1000 * odd + 1000000 * len;
}

}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t steps = o.work(1'500);
  wl::Check check;
  std::atomic<std::uint64_t> collections{0}, checksum{0};

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int t) {
    Interp in;
    in.eval_string(kPrelude);
    std::uint64_t sum = 0;
    for (std::uint64_t i = static_cast<std::uint64_t>(t); i < steps; i += static_cast<std::uint64_t>(o.threads)) {
      std::string src = "(step " + std::to_string(i) + ")";
      Obj *r = in.eval_string(src.c_str());
      std::int64_t want = step_reference(static_cast<std::int64_t>(i));
      if (r->type != T::Int || static_cast<Int *>(r)->v != want)
        check.fail("(step %" PRIu64 ") = %lld, expected %lld", i,
                   r->type == T::Int ? static_cast<long long>(static_cast<Int *>(r)->v) : -1LL,
                   static_cast<long long>(want));
      sum += static_cast<std::uint64_t>(want);
      in.maybe_collect();
    }
    collections += in.collections();
    checksum += sum;
  });
  double secs = timer.seconds();
  return wl::report("lisp", o, secs, check, wl::kv("steps", steps) + wl::kv("collections", collections.load()));
}
