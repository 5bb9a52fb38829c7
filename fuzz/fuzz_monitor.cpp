// The monitor's input path, from bytes to parsed arguments:
//   LineAssembler (vmm/monitor/line_reader.h) fed the input in chunks of
//   fuzzed sizes, with a fuzzed line limit, checked item by item against a
//   model that sees the whole input at once (the chunking must not matter;
//   no byte of a refused line may come out in a line);
//   then each line as run_command sees it: split_words, parse_number (both
//   vmm/monitor/commands.cpp), serial_text, parse_delay_ms and
//   parse_powerfail (vmm/monitor/commands_parse.h), each checked against
//   what it promises. (x/i's rip@K and set ckpt-interval's number are parsed
//   inside the command functions, which need a Machine; their parts are
//   parse_number and strtod.)
#include <fuzzer/FuzzedDataProvider.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/monitor/commands.h"
#include "vmm/monitor/commands_parse.h"
#include "vmm/monitor/line_reader.h"

using namespace hsls;

namespace {

[[noreturn]] void broken(const std::string& what, std::string_view line) {
  std::fprintf(stderr, "fuzz_monitor: %s (line of %zu bytes: '%.*s')\n", what.c_str(), line.size(),
               int(std::min<size_t>(line.size(), 200)), line.data());
  std::abort();
}

bool blank(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The items a LineAssembler with limit `max` must produce for `in` as a whole.
std::vector<LineAssembler::Item> model_lines(std::string_view in, size_t max) {
  std::vector<LineAssembler::Item> out;
  auto too_long = [&](std::string_view l) { return l.size() > max && !(l.size() == max + 1 && l.back() == '\r'); };
  for (;;) {
    size_t nl = in.find('\n');
    std::string_view l = in.substr(0, nl);
    if (nl == std::string_view::npos) {
      if (too_long(l)) out.push_back({true, {}});  // refused as it grew; its end has not come yet
      return out;
    }
    if (too_long(l)) {
      out.push_back({true, {}});
    } else {
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      out.push_back({false, std::string(l)});
    }
    in.remove_prefix(nl + 1);
  }
}

// parse_number's promise: decimal digits, or 0x/0X and hex digits, that fit 64 bits.
std::optional<uint64_t> model_number(const std::string& w) {
  bool hex = w.size() > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X');
  std::string_view d = hex ? std::string_view(w).substr(2) : std::string_view(w);
  if (d.empty()) return std::nullopt;
  unsigned base = hex ? 16 : 10;
  uint64_t v = 0;
  for (char c : d) {
    unsigned k;
    if (c >= '0' && c <= '9') k = unsigned(c - '0');
    else if (hex && c >= 'a' && c <= 'f') k = unsigned(c - 'a' + 10);
    else if (hex && c >= 'A' && c <= 'F') k = unsigned(c - 'A' + 10);
    else return std::nullopt;
    if (v > (UINT64_MAX - k) / base) return std::nullopt;
    v = v * base + k;
  }
  return v;
}

void check_line(const std::string& line, bool restart) {
  auto words = split_words(line);
  std::string joined;
  for (const auto& w : words) {
    if (w.empty()) broken("split_words: an empty word", line);
    for (char c : w)
      if (blank(c)) broken("split_words: a blank inside a word", line);
    joined += w;
  }
  std::string nonblank;
  for (char c : line)
    if (!blank(c)) nonblank += c;
  if (joined != nonblank) broken("split_words: the words are not the line's non-blank characters", line);
  for (const auto& w : words)
    if (parse_number(w) != model_number(w)) broken("parse_number('" + w + "') is wrong", line);
  if (words.empty()) return;

  auto text = serial_text(line);
  if (words.size() < 2) {
    if (text) broken("serial_text: text where the line has one word", line);
  } else {
    // The text is the line after its first word and the blanks that follow, by position.
    if (!text || text->empty() || blank((*text)[0]) || text->size() > line.size() ||
        line.compare(line.size() - text->size(), text->size(), *text) != 0)
      broken("serial_text: not a suffix of the line that starts with a non-blank", line);
    auto head = split_words(line.substr(0, line.size() - text->size()));
    if (head.size() != 1 || head[0] != words[0]) broken("serial_text: the text does not start right after the command word", line);
  }

  for (const auto& w : words) {
    size_t eq = w.find('=');
    if (eq == std::string::npos) continue;
    std::string_view v = std::string_view(w).substr(eq + 1);
    auto ms = parse_delay_ms(v);
    if (ms && !(*ms >= 0 && *ms <= kMaxPowerfailDelayMs)) broken("parse_delay_ms: out of range", line);
    if (ms) {
      for (char c : v)
        if (!(c >= '0' && c <= '9') && c != '.') broken("parse_delay_ms: took a character that is not a digit or '.'", line);
    }
  }
  if (words[0] == "powerfail") {
    auto parsed = parse_powerfail(words, restart);
    if (auto* why = std::get_if<std::string>(&parsed)) {
      if (why->empty() || why->find('\n') != std::string::npos) broken("parse_powerfail: a refusal that is not one line", line);
    } else {
      const auto& a = std::get<PowerfailArgs>(parsed);
      if (a.point && a.after_ms) broken("parse_powerfail: both at= and after=", line);
      if (a.nth == 0) broken("parse_powerfail: #0", line);
      if (a.after_ms && !(*a.after_ms >= 0 && *a.after_ms <= kMaxPowerfailDelayMs)) broken("parse_powerfail: a delay out of range", line);
      if (restart && !a.restart) broken("parse_powerfail: lost the default restart", line);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // The limit: mostly small, so that inputs cross it; sometimes the real one.
  size_t max = in.ConsumeBool() ? LineAssembler::kMaxLine : in.ConsumeIntegralInRange<size_t>(0, 64);
  bool restart = in.ConsumeBool();
  std::string all;
  LineAssembler lines(max);
  std::vector<LineAssembler::Item> got;
  while (in.remaining_bytes() > 0) {
    size_t n = in.ConsumeIntegralInRange<size_t>(1, 64);
    std::string chunk = in.ConsumeBytesAsString(n);
    all += chunk;
    for (auto& item : lines.feed(chunk)) {
      if (!item.too_long && item.line.size() > max) broken("a line longer than the limit came out", item.line);
      if (item.line.find('\n') != std::string::npos) broken("a line with a newline in it", item.line);
      got.push_back(std::move(item));
    }
    if (lines.pending() > max + 1) broken("more than the limit is held while assembling a line", {});
  }
  auto want = model_lines(all, max);
  if (got.size() != want.size()) broken("feed() and the model disagree on the number of items", all);
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i].too_long != want[i].too_long || got[i].line != want[i].line)
      broken("feed() and the model disagree on item " + std::to_string(i), got[i].line);
  for (const auto& item : got)
    if (!item.too_long) check_line(item.line, restart);
  return 0;
}
