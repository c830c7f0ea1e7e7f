// tools/lfh/map.cpp — `lfh map`: the address space as lfh sees it, drawn as SVG (like VMMap):
// every region a `<g class="region KIND">` with data-* attributes and a <title> (the hover text),
// shaded reserved → committed → resident, LFH subsegments with their block occupancy.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "model.h"
#include "verbs.h"

namespace lfh_tool {
namespace {

struct Palette {
  const char *light, *committed, *resident, *label;
};

Palette palette(const std::string &kind) {
  if (kind == "lfh") return {"#cfe0f5", "#6b9bd1", "#1f4e8c", "LFH subsegment (blocks up to 16 KB)"};
  if (kind == "lfh_reserve") return {"#eef2f7", "#eef2f7", "#eef2f7", "LFH arena: address space for subsegments"};
  if (kind == "core") return {"#d5ecd4", "#7cc47a", "#2e7d32", "core segment (blocks above 16 KB)"};
  if (kind == "direct") return {"#fde3c8", "#f5a25d", "#c25e00", "direct block (own VM region)"};
  return {"#eeeeee", "#bbbbbb", "#777777", "other"};
}
constexpr const char *kOccupancy = "#f2c200";

std::string hex(std::uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// The hover text and data attributes of one region.
std::string region_open(const Region &r, double x, double y, double w, double h, bool resident_known) {
  std::ostringstream o;
  o << "<g class=\"region " << r.kind << "\" data-kind=\"" << r.kind << "\" data-address=\"" << hex(r.address)
    << "\" data-size=\"" << r.size << "\" data-committed=\"" << r.committed << "\" data-resident=\"" << r.resident
    << "\" data-used=\"" << r.used_bytes << "\" data-heap=\"" << r.heap << "\"";
  if (r.kind == "lfh") o << " data-block-size=\"" << r.block_size << "\"";
  o << " data-blocks=\"" << r.blocks_total << "\" data-blocks-used=\"" << r.blocks_used << "\" data-x=\"" << num(x)
    << "\" data-y=\"" << num(y) << "\" data-w=\"" << num(w) << "\" data-h=\"" << num(h) << "\">";
  o << "<title>" << palette(r.kind).label << " at " << hex(r.address) << "\nheap " << r.heap << ", reserved "
    << human_size(r.size);
  if (r.kind != "lfh_reserve") {
    o << ", committed " << human_size(r.committed);
    if (resident_known) o << ", resident " << human_size(r.resident);
  }
  if (r.kind == "lfh")
    o << "\nbucket " << r.bucket << ": " << r.block_size << "-byte blocks, " << r.blocks_used << " of "
      << r.blocks_total << " in use";
  else if (r.kind == "core")
    o << "\n" << r.blocks_used << " of " << r.blocks_total << " blocks busy (" << human_size(r.used_bytes) << ")";
  else if (r.kind == "direct")
    o << "\nblock of " << human_size(r.used_bytes) << " requested";
  o << "</title>";
  return o.str();
}

void rect(std::ostringstream &o, double x, double y, double w, double h, const char *fill, const char *extra = "") {
  if (w <= 0 || h <= 0) return;
  o << "<rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(w) << "\" height=\"" << num(h)
    << "\" fill=\"" << fill << "\"" << extra << "/>";
}

double frac(std::uint64_t part, std::uint64_t whole) {
  return whole ? std::min(1.0, double(part) / double(whole)) : 0.0;
}

// A box for a region in the flow layout: light = reserved, then committed, then resident, from
// the left; a yellow bar along the top for the share in use.
void flow_box(std::ostringstream &o, const Region &r, double x, double y, double w, double h, bool resident_known) {
  const Palette p = palette(r.kind);
  o << region_open(r, x, y, w, h, resident_known);
  rect(o, x, y, w, h, p.light, " stroke=\"#555\" stroke-width=\"0.5\"");
  rect(o, x, y + 6, w * frac(r.committed, r.size), h - 6, p.committed);
  if (resident_known) rect(o, x, y + 6 + (h - 6) / 2, w * frac(r.resident, r.size), (h - 6) / 2, p.resident);
  rect(o, x, y, w * frac(r.used_bytes, r.size), 5, kOccupancy);
  if (w > 64)
    o << "<text x=\"" << num(x + 4) << "\" y=\"" << num(y + 20) << "\" font-size=\"11\" fill=\"#000\">"
      << human_size(r.size) << "</text>";
  o << "</g>\n";
}

struct Layout {
  double width = 1200, margin = 20, y = 0;
  double inner() const { return width - 2 * margin; }
};

std::string build_svg(const Model &m, const std::string &source) {
  Layout L;
  std::ostringstream body;
  std::uint64_t reserved = 0, committed = 0, resident = 0;
  std::map<std::string, std::uint64_t> count;
  for (const Region &r : m.regions) {
    ++count[r.kind];
    if (r.kind == "lfh_reserve") {
      reserved += r.size;
      continue;
    }
    resident += r.resident;
    committed += r.committed;
    bool inside = false;   // a subsegment's address space is its arena's
    if (r.kind == "lfh")
      for (const Region &a : m.regions)
        if (a.kind == "lfh_reserve" && r.address >= a.address && r.address < a.address + a.size) inside = true;
    if (!inside) reserved += r.size;
  }
  L.y = 132;
  std::vector<std::uint64_t> heaps;
  for (const Region &r : m.regions)
    if (std::find(heaps.begin(), heaps.end(), r.heap) == heaps.end()) heaps.push_back(r.heap);
  std::sort(heaps.begin(), heaps.end());
  for (std::uint64_t heap : heaps) {
    std::vector<const Region *> regs;
    for (const Region &r : m.regions)
      if (r.heap == heap) regs.push_back(&r);
    std::sort(regs.begin(), regs.end(), [](const Region *a, const Region *b) { return a->address < b->address; });
    body << "<text x=\"" << L.margin << "\" y=\"" << num(L.y + 14) << "\" font-size=\"15\" font-weight=\"bold\">heap "
         << heap << (heap == 0 ? " (process heap)" : "") << "</text>\n";
    L.y += 24;
    // LFH arenas: one band each, its subsegments placed by address inside it.
    std::vector<const Region *> flow;
    for (const Region *a : regs) {
      if (a->kind != "lfh_reserve") continue;
      const double bx = L.margin, bw = L.inner(), bh = 40;
      body << "<text x=\"" << bx << "\" y=\"" << num(L.y + 11) << "\" font-size=\"11\" fill=\"#333\">LFH arena "
           << hex(a->address) << ", " << human_size(a->size) << " reserved</text>\n";
      L.y += 15;
      body << region_open(*a, bx, L.y, bw, bh, m.resident_known);
      rect(body, bx, L.y, bw, bh, palette("lfh_reserve").light, " stroke=\"#9aa9bb\" stroke-width=\"0.5\"");
      body << "</g>\n";
      for (const Region *s : regs) {
        if (s->kind != "lfh" || s->address < a->address || s->address >= a->address + a->size) continue;
        const double sx = bx + bw * double(s->address - a->address) / double(a->size);
        const double sw = std::max(1.5, bw * double(s->size) / double(a->size));
        const Palette p = palette("lfh");
        body << region_open(*s, sx, L.y, sw, bh, m.resident_known);
        rect(body, sx, L.y, sw, bh, p.committed, " stroke=\"#fff\" stroke-width=\"0.3\"");
        if (m.resident_known) {
          const double rh = (bh - 6) * frac(s->resident, s->size);
          rect(body, sx, L.y + bh - rh, sw, rh, p.resident);
        }
        rect(body, sx, L.y, sw * frac(s->blocks_used, s->blocks_total), 5, kOccupancy);
        if (sw > 40)
          body << "<text x=\"" << num(sx + 2) << "\" y=\"" << num(L.y + 18) << "\" font-size=\"9\" fill=\"#fff\">"
               << s->block_size << "B</text>";
        body << "</g>\n";
      }
      L.y += bh + 8;
    }
    for (const Region *r : regs) {
      if (r->kind == "lfh_reserve") continue;
      bool inside = false;
      if (r->kind == "lfh")
        for (const Region *a : regs)
          if (a->kind == "lfh_reserve" && r->address >= a->address && r->address < a->address + a->size) inside = true;
      if (!inside) flow.push_back(r);
    }
    if (!flow.empty()) {
      body << "<text x=\"" << L.margin << "\" y=\"" << num(L.y + 11)
           << "\" font-size=\"11\" fill=\"#333\">large blocks: core segments and direct blocks, by address (area ~ size)</text>\n";
      L.y += 16;
      double x = L.margin;
      const double h = 44;
      for (const Region *r : flow) {
        double w = std::clamp(12.0 * std::sqrt(double(r->size) / 65536.0), 8.0, L.inner());
        if (x + w > L.margin + L.inner()) {
          x = L.margin;
          L.y += h + 6;
        }
        flow_box(body, *r, x, L.y, w, h, m.resident_known);
        x += w + 4;
      }
      L.y += h + 10;
    }
    L.y += 8;
  }
  if (m.regions.empty()) {
    body << "<text x=\"" << L.margin << "\" y=\"" << num(L.y + 14) << "\" font-size=\"13\">no regions</text>\n";
    L.y += 24;
  }
  const double height = L.y + 20;
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << L.width << "\" height=\"" << num(height)
    << "\" viewBox=\"0 0 " << L.width << " " << num(height) << "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n"
    << "<rect class=\"background\" x=\"0\" y=\"0\" width=\"" << L.width << "\" height=\"" << num(height)
    << "\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << L.margin << "\" y=\"30\" font-size=\"20\" font-weight=\"bold\">lfh heap map — pid " << m.pid
    << "</text>\n";
  o << "<text class=\"totals\" x=\"" << L.margin << "\" y=\"52\" font-size=\"12\">" << m.regions.size() << " regions";
  if (m.regions_omitted) o << " (+" << m.regions_omitted << " not listed)";
  o << " · reserved " << human_size(reserved) << " · committed " << human_size(committed);
  if (m.resident_known) o << " · resident " << human_size(resident) << " (mincore, measured by the process)";
  o << " · " << count["lfh"] << " subsegments, " << count["core"] << " core segments, " << count["direct"]
    << " direct blocks · source: " << source << "</text>\n";
  // Legend.
  double lx = L.margin;
  const double ly = 66;
  for (const char *k : {"lfh", "lfh_reserve", "core", "direct"}) {
    const Palette p = palette(k);
    o << "<g class=\"legend\">";
    rect(o, lx, ly, 14, 14, p.committed, " stroke=\"#555\" stroke-width=\"0.5\"");
    o << "<text x=\"" << lx + 18 << "\" y=\"" << ly + 11 << "\" font-size=\"11\">" << p.label << "</text></g>\n";
    lx += 18 + 6.2 * double(std::string(p.label).size()) + 16;
  }
  const Palette c = palette("core");
  o << "<g class=\"legend\">";
  rect(o, L.margin, 88, 30, 14, c.light, " stroke=\"#555\" stroke-width=\"0.5\"");
  o << "<text x=\"" << L.margin + 34 << "\" y=\"99\" font-size=\"11\">reserved</text>";
  rect(o, L.margin + 100, 88, 30, 14, c.committed);
  o << "<text x=\"" << L.margin + 134 << "\" y=\"99\" font-size=\"11\">committed</text>";
  rect(o, L.margin + 210, 88, 30, 14, c.resident);
  o << "<text x=\"" << L.margin + 244 << "\" y=\"99\" font-size=\"11\">resident</text>";
  rect(o, L.margin + 310, 88, 30, 5, kOccupancy);
  o << "<text x=\"" << L.margin + 344 << "\" y=\"99\" font-size=\"11\">in use (yellow bar: LFH blocks out, core busy bytes,"
       " direct requested bytes)</text></g>\n";
  o << "<text x=\"" << L.margin << "\" y=\"120\" font-size=\"10\" fill=\"#555\">LFH arenas are drawn to scale by address;"
       " large blocks as boxes whose area grows with size. Hover a region for details.</text>\n";
  o << body.str() << "</svg>\n";
  return o.str();
}

std::string build_html(const std::string &svg, const Model &m) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lfh heap map — pid " << m.pid << "</title>\n"
    << "<style>body{font-family:sans-serif;margin:16px}g.region:hover>rect{stroke:#000;stroke-width:2}"
       "#info{position:fixed;right:16px;top:16px;width:340px;background:#fffbe6;border:1px solid #aaa;padding:8px;"
       "white-space:pre-wrap;font-size:13px}</style></head><body>\n"
    << "<div id=\"info\">hover a region</div>\n";
  std::string inner = svg.substr(svg.find("<svg"));
  o << inner;
  o << "<script>\nfor (const g of document.querySelectorAll('g.region')) {\n"
       "  g.addEventListener('mouseenter', () => {\n"
       "    const t = g.querySelector('title');\n"
       "    document.getElementById('info').textContent = (t ? t.textContent : '') + '\\n\\n' +\n"
       "      Object.entries(g.dataset).filter(([k]) => !'xywh'.includes(k)).map(([k, v]) => k + ': ' + v).join('\\n');\n"
       "  });\n}\n</script>\n</body></html>\n";
  return o.str();
}

}  // namespace

void map_help() {
  std::printf(
      "usage: lfh map PID -o FILE.svg [--html]\n"
      "       lfh map --from SNAPSHOT.json -o FILE.svg [--html]\n\n"
      "Draws the address space as lfh sees it (like VMMap): every region by kind — LFH\n"
      "subsegments inside their arenas (to scale, by address), core segments, direct blocks —\n"
      "shaded reserved / committed / resident, with the share of each in use, a legend and totals.\n"
      "Page-heap blocks are counted in the totals but not drawn.\n\n"
      "  PID          a live process run with LFH_STATS_LIVE=1 (its /dev/shm/lfh.PID segment;\n"
      "               resident bytes are measured by the process itself with mincore)\n"
      "  --from FILE  a JSON snapshot with regions: LFH_STATS=/tmp/snap.%%p.json at exit, or\n"
      "               lfh_stats_print(fd, LFH_STATS_JSON | LFH_STATS_REGIONS)\n"
      "  -o FILE      where to write (- for standard output)\n"
      "  --html       write an HTML page (the SVG with hover details) instead of plain SVG\n\n"
      "Each region is one <g class=\"region KIND\"> element with data-* attributes.\n"
      "exit status: 0 ok; 1 bad command line; 2 no such process / no live segment / not an lfh\n"
      "snapshot; 3 cannot write FILE.\n");
}

int map_main(int argc, char **argv) {
  long pid = 0;
  std::string from, out;
  bool html = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      map_help();
      return 0;
    } else if (a == "--html") {
      html = true;
    } else if ((a == "--from" || a == "-o") && i + 1 < argc) {
      (a == "--from" ? from : out) = argv[++i];
    } else if (pid == 0 && parse_pid(a, &pid)) {
    } else {
      std::fprintf(stderr, "lfh: map: unexpected argument '%s' (try lfh map --help)\n", a.c_str());
      return kExitBadUsage;
    }
  }
  if ((pid == 0) == from.empty()) {
    std::fprintf(stderr, "lfh: map: give either a PID or --from FILE (try lfh map --help)\n");
    return kExitBadUsage;
  }
  if (out.empty()) {
    std::fprintf(stderr, "lfh: map: no output file (-o FILE.svg)\n");
    return kExitBadUsage;
  }
  Model m;
  std::string err;
  int rc = from.empty() ? load_live(pid, &m, &err) : load_json_file(from, &m, &err);
  if (rc != kExitOk) {
    std::fprintf(stderr, "lfh: %s\n", err.c_str());
    return rc;
  }
  if (!m.has_regions) {
    std::fprintf(stderr, "lfh: %s has no region list (write it with LFH_STATS=path.json, or LFH_STATS_REGIONS)\n",
                 from.c_str());
    return kExitNoTarget;
  }
  std::string svg = build_svg(m, from.empty() ? "live pid " + std::to_string(pid) : from);
  std::string text = html ? build_html(svg, m) : svg;
  if (out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  std::ofstream f(out, std::ios::binary);
  f << text;
  if (!f.good()) {
    std::fprintf(stderr, "lfh: map: cannot write %s\n", out.c_str());
    return kExitIo;
  }
  return kExitOk;
}

}  // namespace lfh_tool
