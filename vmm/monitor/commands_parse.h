// Argument parsing of monitor commands, apart from the Machine they act on
// (pure functions, unit-tested). Header-only so that it needs no build change.
#pragma once
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nvm/persist.h"
#include "vmm/core/config.h"
#include "vmm/monitor/commands.h"

namespace hsls {

// The text of `serial TEXT`: the rest of the line after the command word and
// the blanks that follow it, taken by position (so "serial e" is "e").
// nullopt if there is no text.
inline std::optional<std::string> serial_text(std::string_view line) {
  auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  size_t i = 0;
  while (i < line.size() && blank(line[i])) ++i;   // before the command word
  while (i < line.size() && !blank(line[i])) ++i;  // the command word
  while (i < line.size() && blank(line[i])) ++i;   // between it and the text
  if (i == line.size()) return std::nullopt;
  return std::string(line.substr(i));
}

// Longest delay `powerfail after=MS` takes: one hour.
inline constexpr double kMaxPowerfailDelayMs = 3.6e6;

// A delay in milliseconds: decimal digits with an optional fraction ("250",
// "0.5"), 0 to kMaxPowerfailDelayMs. nullopt for anything else: empty, a
// sign, an exponent, hex, inf, nan, blanks.
inline std::optional<double> parse_delay_ms(std::string_view text) {
  size_t i = 0, digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    size_t before = ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
    if (i == before) return std::nullopt;  // "5." is not a number here
  }
  if (i != text.size() || digits == 0) return std::nullopt;
  double value = std::strtod(std::string(text).c_str(), nullptr);  // plain decimal: checked above
  if (!(value >= 0 && value <= kMaxPowerfailDelayMs)) return std::nullopt;
  return value;
}

// `powerfail [restart] [at=POINT[#N]] [after=MS]`, parsed.
struct PowerfailArgs {
  bool restart = false;
  std::optional<nvm::CrashPoint> point;
  uint64_t nth = 1;
  std::optional<double> after_ms;
  std::optional<uint64_t> at_block;  // deterministic machine: when this many blocks have executed
};

// Parses the words of a powerfail command (words[0] is "powerfail");
// `restart` is the default (power.restart). The one-line refusal on error.
inline std::variant<PowerfailArgs, std::string> parse_powerfail(const std::vector<std::string>& w, bool restart) {
  PowerfailArgs out;
  out.restart = restart;
  for (size_t i = 1; i < w.size(); ++i) {
    const std::string& a = w[i];
    if (a == "restart") {
      out.restart = true;
    } else if (a.rfind("at=", 0) == 0) {
      std::string spec = a.substr(3);
      auto hash = spec.find('#');
      if (hash != std::string::npos) {
        auto n = parse_number(spec.substr(hash + 1));
        if (!n || *n == 0) return "powerfail: '" + a + "': the count after # must be 1 or more";
        out.nth = *n;
        spec = spec.substr(0, hash);
      }
      out.point = nvm::crash_point_from_name(spec);
      if (!out.point) return "powerfail: unknown crash point '" + spec + "' (allowed: " + nvm::crash_point_names() + ")";
    } else if (a.rfind("at-block=", 0) == 0) {
      auto n = parse_number(a.substr(9));
      if (!n) return "powerfail: '" + a + "' is not a block count (at-block=N, N blocks executed since boot)";
      out.at_block = *n;
    } else if (a.rfind("after=", 0) == 0) {
      auto ms = parse_delay_ms(std::string_view(a).substr(6));
      if (!ms) return "powerfail: '" + a + "' is not a delay (allowed: after=MS, 0 to 3600000 ms, e.g. after=250 or after=0.5)";
      out.after_ms = *ms;
    } else {
      return "powerfail: unknown argument '" + a + "' (usage: powerfail [restart] [at=POINT[#N]] [at-block=N] [after=MS])";
    }
  }
  if (int(out.point.has_value()) + int(out.after_ms.has_value()) + int(out.at_block.has_value()) > 1)
    return std::string("powerfail: give one of at=, at-block= and after=");
  return out;
}

}  // namespace hsls
