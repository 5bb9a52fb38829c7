#include "vmm/core/config.h"

#include <sys/un.h>
// toml++'s implementation is compiled here, its one user (meson.build says why).
#ifdef HSLS_TOML_COMPILED_IN
#define TOML_IMPLEMENTATION
#endif
#include <toml++/toml.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include "vmm/core/error.h"

namespace hsls {
namespace {

// The keys a config file may hold, by table.
const std::set<std::string> kKnownKeys = {
    "machine.memory", "machine.vcpus", "machine.pin_vcpus", "machine.prefault", "machine.accel", "machine.deterministic", "guest.image",    "guest.cmdline", "nvm.path",
    "serial.console", "serial.log",    "monitor.socket", "log.level",     "ckpt.enabled",
    "ckpt.interval_ms", "ckpt.policy", "ckpt.hot_threshold", "ckpt.history", "ckpt.neighbours", "ckpt.hot_lease", "ckpt.copier",
    "ckpt.persistence", "ckpt.verify", "ckpt.dirty_log", "ckpt.write_protect", "power.restart", "power.restart_delay_ms",
    "net.tap", "net.peer", "net.mac", "net.external_sync", "net.max_held",
};

// "0x0a": a byte as the messages name it.
std::string byte_hex(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", c);
  return buf;
}

// `text` with control characters and DEL written as \xNN, so that a message
// echoing it stays one line.
std::string printable(std::string_view text) {
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) out += "\\x" + byte_hex(c).substr(2);
    else out += ch;
  }
  return out;
}

bool is_bare_key_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Digits of one kind with single underscores between them ("1_000").
bool toml_digits(std::string_view s, bool (*digit)(char)) {
  if (s.empty() || !digit(s.front()) || !digit(s.back())) return false;
  for (size_t i = 1; i + 1 < s.size(); ++i)
    if (!digit(s[i]) && !(s[i] == '_' && digit(s[i - 1]) && digit(s[i + 1]))) return false;
  return true;
}

// True if `w` is a bare TOML value a key here can take: true, false, an
// integer (decimal, 0x, 0o, 0b) or a float (with inf and nan). Dates and
// times are TOML too, but no key takes one, and toml++ 3.3.0 asserts on
// malformed ones ("1979-05-27T&7:32:00").
bool toml_bare_value(std::string_view w) {
  auto dec = [](char c) { return c >= '0' && c <= '9'; };
  if (w == "true" || w == "false") return true;
  std::string_view u = w;
  if (!u.empty() && (u[0] == '+' || u[0] == '-')) u.remove_prefix(1);
  if (u == "inf" || u == "nan") return true;
  if (u.size() > 2 && u[0] == '0' && (u[1] == 'x' || u[1] == 'o' || u[1] == 'b')) {
    if (u.size() != w.size()) return false;  // no sign on these
    if (u[1] == 'x')
      return toml_digits(u.substr(2), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); });
    if (u[1] == 'o') return toml_digits(u.substr(2), [](char c) { return c >= '0' && c <= '7'; });
    return toml_digits(u.substr(2), [](char c) { return c == '0' || c == '1'; });
  }
  size_t e = u.find_first_of("eE");
  std::string_view mantissa = u.substr(0, e);
  size_t dot = mantissa.find('.');
  std::string_view whole = mantissa.substr(0, dot);
  if (!toml_digits(whole, dec) || (whole.size() > 1 && whole[0] == '0')) return false;
  if (dot != std::string_view::npos && !toml_digits(mantissa.substr(dot + 1), dec)) return false;
  if (e != std::string_view::npos) {
    std::string_view exponent = u.substr(e + 1);
    if (!exponent.empty() && (exponent[0] == '+' || exponent[0] == '-')) exponent.remove_prefix(1);
    if (!toml_digits(exponent, dec)) return false;
  }
  return true;
}

// Refuses, before toml++ sees it, text that toml++ 3.3.0 mishandles. Its
// whitespace test reaches __builtin_unreachable for many non-ASCII
// characters (U+00A1-U+0499 and U+2D6E-U+3167, e.g. U+03FB) wherever it asks
// "is this whitespace?" or "does the value end here?": between tokens, in
// keys, in and after bare values (a number or date is read up to the next
// blank, ']', '}', ',' or '#', quotes and brackets included), in a
// multi-line basic string right after a backslash, and where a line-ending
// backslash skips blanks. And it assumes (asserts, with assertions on)
// things of its input that malformed input breaks: that a table header
// starts with a key ("[" + NUL, "[=]"), that an array element does not
// start with '}' ("p=[}"), that a date's time starts with a digit
// ("1979-05-27T&7:32:00").
//
// So: no raw control characters but tab and line breaks anywhere (TOML
// allows no others); nothing but ASCII outside strings and comments (TOML
// keys are ASCII unless quoted); a table header starts with a bare-key
// character or a quote; no '}' right after '[' or ','; every bare value is
// true, false, an integer or a float, whole (toml_bare_value: a quote
// inside one opens no string, as for toml++); and in a multi-line basic
// string the character after a backslash, and the first one after a
// line-ending backslash's blanks, is ASCII. Throws Error("<source>:<line>: ...").
void prescan_toml(std::string_view t, const std::string& source) {
  enum class In { code, comment, basic, literal, ml_basic, ml_literal } in = In::code;
  size_t line = 1;
  auto fail = [&](const std::string& why) { throw Error(source + ":" + std::to_string(line) + ": " + why); };
  std::string open;         // the '[' and '{' of the values being read, innermost last
  bool key = true;          // keys come next (not a value): '.' separates
  bool line_start = true;   // nothing but blanks yet on this line (outside strings)
  bool in_header = false;   // inside a [table] header
  bool in_word = false;     // inside a bare word (a key, or a value from word_start)
  size_t word_start = std::string_view::npos;  // where the bare value being read starts
  char prev = 0;            // the last character outside strings, comments and blanks ('"' for a string)
  bool escaped = false;     // a basic string's backslash came just before
  bool skipping = false;    // blanks after a line-ending backslash (multi-line basic string)
  auto end_value = [&](size_t end) {
    if (word_start == std::string_view::npos) return;
    std::string_view w = t.substr(word_start, end - word_start);
    word_start = std::string_view::npos;
    if (!toml_bare_value(w))
      fail("'" + std::string(w.substr(0, 40)) + (w.size() > 40 ? "...'" : "'") +
           " is not a value (allowed: a string, an integer, a float, true or false, an array or an inline table; no key takes a date)");
  };
  size_t i = t.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;  // a UTF-8 byte order mark
  for (; i < t.size(); ++i) {
    auto c = static_cast<unsigned char>(t[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
      fail("control character " + byte_hex(c) + " (TOML allows only tab and line breaks; in a string write \\u" +
           (c == 0x7f ? "007F" : "00" + byte_hex(c).substr(2)) + ")");
    if (c == '\r' && (i + 1 == t.size() || t[i + 1] != '\n')) fail("carriage return without a newline after it");
    switch (in) {
      case In::code: {
        if (c >= 0x80)
          fail("non-ASCII character outside a string or comment (allowed in keys: ASCII letters, digits, '_' and '-'; "
               "quote anything else)");
        const bool blank = c == '\n' || c == ' ' || c == '\t' || c == '\r';
        if (word_start != std::string_view::npos) {
          // toml++ reads a bare value up to a blank, ']', '}', ',' or '#',
          // asking of each character whether the value ends there: '[', '{',
          // '=', '.' and quotes are part of it.
          if (!(blank || c == ']' || c == '}' || c == ',' || c == '#')) break;
          end_value(i);
          in_word = false;
        }
        if (blank) {
          in_word = false;
          if (c == '\n') {
            line_start = true;
            in_header = false;
            if (open.empty()) key = true;
          }
          break;
        }
        if (c == '#') {
          in = In::comment;
          in_word = false;
          break;  // a comment is no value, and its line is over
        }
        if ((c == '"' || c == '\'') && !in_word) {
          bool triple = t.substr(i, 3) == std::string(3, char(c));
          in = c == '"' ? (triple ? In::ml_basic : In::basic) : (triple ? In::ml_literal : In::literal);
          if (triple) i += 2;
        } else if (c == '[' && open.empty() && line_start) {
          in_header = true;
          key = true;
          size_t j = i + 1;
          if (j < t.size() && t[j] == '[') ++j;
          while (j < t.size() && (t[j] == ' ' || t[j] == '\t')) ++j;
          if (j == t.size() || !(is_bare_key_char(static_cast<unsigned char>(t[j])) || t[j] == '"' || t[j] == '\''))
            fail("a table header must start with a key (allowed: ASCII letters, digits, '_', '-' or a quoted key)");
        } else if (in_header) {
          in_word = is_bare_key_char(c) || c == '"' || c == '\'';  // '[', ']' and '.' separate
        } else if (c == '[' || c == '{') {
          open += char(c);
          key = c == '{';
          in_word = false;
        } else if (c == ']' || c == '}') {
          if (c == '}' && (prev == '[' || prev == ','))
            fail("'}' where a value should be");
          if (!open.empty()) open.pop_back();
          key = false;
          in_word = false;
        } else if (c == ',') {
          key = !open.empty() && open.back() == '{';
          in_word = false;
        } else if (c == '=') {
          key = false;
          in_word = false;
        } else if (c == '.' && key) {
          in_word = false;  // between the parts of a dotted key
        } else {
          if (!key && !in_word) word_start = i;  // a bare value starts
          in_word = true;                         // quotes inside a word too
        }
        line_start = false;
        prev = char(c);
        break;
      }
      case In::comment:
        if (c == '\n') {
          in = In::code;
          line_start = true;
          in_header = false;
          if (open.empty()) key = true;
        }
        break;
      case In::basic:
      case In::literal:
        if (c == '\n') fail("newline inside a one-line string (allowed: a \"\"\"multi-line\"\"\" string or \\n)");
        if (in == In::basic && escaped) {
          if (c >= 0x80) fail("backslash before a non-ASCII character (not an escape sequence)");
          escaped = false;
        } else if (in == In::basic && c == '\\') {
          escaped = true;
        } else if (c == (in == In::basic ? '"' : '\'')) {
          in = In::code;
          in_word = false;
        }
        break;
      case In::ml_basic:
      case In::ml_literal: {
        if (in == In::ml_basic) {
          if (escaped) {
            escaped = false;
            if (c >= 0x80) fail("backslash before a non-ASCII character (not an escape sequence)");
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') skipping = true;
            break;
          }
          if (skipping) {
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
            skipping = false;
            if (c >= 0x80)
              fail("non-ASCII character first after a line-ending backslash (toml++ 3.3.0 misreads it; write it as "
                   "\\uXXXX or before the backslash)");
          }
          if (c == '\\') {
            escaped = true;
            break;
          }
        }
        char quote = in == In::ml_basic ? '"' : '\'';
        if (c == static_cast<unsigned char>(quote) && t.substr(i, 3) == std::string(3, quote)) {
          size_t n = 3;  // up to two more quotes belong to the string
          while (n < 5 && i + n < t.size() && t[i + n] == quote) ++n;
          i += n - 1;
          in = In::code;
          in_word = false;
        }
        break;
      }
    }
    if (c == '\n') ++line;
  }
  end_value(t.size());
}

// Refuses a string value holding a control character or DEL: a NUL ends
// the string for the kernel (a tap "tap0\0evil" would be tap0), a newline
// splits log and monitor lines, and no key needs either.
void check_text(const char* key, const std::string& value) {
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f)
      throw Error(std::string(key) + ": contains control character " + byte_hex(c) + " at byte " + std::to_string(i) +
                  " (allowed: text without NUL, newline, tab, other control characters or DEL)");
  }
}

// Reads a boolean key if present.
void read_bool(const toml::table& root, const char* table, const char* key, bool& out, const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  auto v = node.value_exact<bool>();
  if (!v) throw Error(source + ": " + table + "." + key + " must be true or false");
  out = *v;
}

// Reads an unsigned integer key if present.
void read_uint(const toml::table& root, const char* table, const char* key, unsigned& out, const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  auto v = node.value_exact<int64_t>();
  if (!v || *v < 0 || *v > 1'000'000) throw Error(source + ": " + table + "." + key + " must be a non-negative integer");
  out = unsigned(*v);
}

// Reads a number (integer or float) key if present.
void read_number(const toml::table& root, const char* table, const char* key, double& out, const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  if (auto i = node.value_exact<int64_t>()) out = double(*i);
  else if (auto f = node.value_exact<double>()) out = *f;
  else throw Error(source + ": " + table + "." + key + " must be a number");
}

// Checks that every key of the document is one we know.
void check_known_keys(const toml::table& root, const std::string& source) {
  static const std::set<std::string> tables = {"machine", "guest", "nvm", "serial", "monitor", "log", "ckpt", "power", "net"};
  for (auto&& [table_key, node] : root) {
    const auto* table = node.as_table();
    if (!table) throw Error(source + ": '" + printable(table_key.str()) + "' must be a table like [machine]");
    if (!tables.count(std::string(table_key.str())))
      throw Error(source + ": unknown table [" + printable(table_key.str()) + "]");
    for (auto&& [key, value] : *table) {
      std::string full = std::string(table_key.str()) + "." + std::string(key.str());
      if (!kKnownKeys.count(full)) throw Error(source + ": unknown key '" + printable(full) + "'");
    }
  }
}

// Reads a string key if present.
void read_string(const toml::table& root, const char* table, const char* key, std::string& out,
                 const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  auto v = node.value<std::string>();
  if (!v) throw Error(source + ": " + table + "." + key + " must be a string");
  out = *v;
}

// Reads a path key if present, resolving it against base_dir.
void read_path(const toml::table& root, const char* table, const char* key, std::string& out,
               const std::filesystem::path& base_dir, const std::string& source) {
  std::string raw;
  read_string(root, table, key, raw, source);
  if (raw.empty()) return;
  std::filesystem::path p(raw);
  out = p.is_absolute() ? raw : (base_dir / p).lexically_normal().string();
}

}  // namespace

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    uint64_t next = value * 10 + uint64_t(text[pos] - '0');
    if (next / 10 != value) return std::nullopt;
    value = next;
    ++pos;
  }
  if (pos == 0) return std::nullopt;
  std::string unit = text.substr(pos);
  unsigned shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KiB" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "MiB") shift = 20;
  else if (unit == "G" || unit == "GiB") shift = 30;
  else return std::nullopt;
  if (shift && (value >> (64 - shift)) != 0) return std::nullopt;
  return value << shift;
}

std::optional<uint64_t> parse_number(const std::string& word) {
  const bool hex = word.size() > 2 && word[0] == '0' && (word[1] == 'x' || word[1] == 'X');
  const char* first = word.data() + (hex ? 2 : 0);
  const char* last = word.data() + word.size();
  uint64_t value = 0;
  // from_chars takes no blanks, signs or prefixes, and reports overflow without throwing.
  auto [end, ec] = std::from_chars(first, last, value, hex ? 16 : 10);
  if (first == last || ec != std::errc() || end != last) return std::nullopt;
  return value;
}

std::optional<std::array<uint8_t, 6>> parse_mac(const std::string& text) {
  std::array<uint8_t, 6> mac{};
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    if (i && text[3 * i - 1] != ':') return std::nullopt;
    unsigned v = 0;
    for (size_t k = 0; k < 2; ++k) {
      char c = text[3 * i + k];
      unsigned d = (c >= '0' && c <= '9') ? unsigned(c - '0') : (c >= 'a' && c <= 'f') ? unsigned(c - 'a' + 10)
                   : (c >= 'A' && c <= 'F') ? unsigned(c - 'A' + 10) : 16u;
      if (d == 16) return std::nullopt;
      v = v * 16 + d;
    }
    mac[i] = uint8_t(v);
  }
  return mac;
}

std::string format_size(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (u < 3 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++u;
  }
  return std::to_string(bytes) + " " + units[u];
}

void apply_toml(Config& cfg, const std::string& toml_text, const std::filesystem::path& base_dir,
                const std::string& source) {
  prescan_toml(toml_text, source);
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw Error(source + ":" + std::to_string(where.line) + ": " + std::string(e.description()));
  }
  check_known_keys(root, source);

  if (auto node = root["machine"]["memory"]) {
    if (auto s = node.value<std::string>()) {
      auto size = parse_size(*s);
      if (!size) throw Error(source + ": machine.memory: '" + printable(*s) + "' is not a size (allowed: e.g. \"256M\", \"1G\")");
      cfg.memory_bytes = *size;
    } else if (auto i = node.value_exact<int64_t>(); i && *i >= 0) {
      cfg.memory_bytes = uint64_t(*i);
    } else {
      throw Error(source + ": machine.memory must be a size string like \"256M\" or a byte count");
    }
  }
  if (auto node = root["machine"]["vcpus"]) {
    auto i = node.value_exact<int64_t>();
    if (!i || *i < 1 || *i > int64_t(kMaxVcpus))
      throw Error(source + ": machine.vcpus must be an integer (allowed: 1-" + std::to_string(kMaxVcpus) + ")");
    cfg.vcpus = unsigned(*i);
  }
  read_bool(root, "machine", "pin_vcpus", cfg.pin_vcpus, source);
  read_bool(root, "machine", "prefault", cfg.prefault, source);
  read_string(root, "machine", "accel", cfg.accel, source);
  if (auto node = root["machine"]["deterministic"]) {
    if (auto b = node.value_exact<bool>()) {
      cfg.deterministic = *b;
    } else if (auto i = node.value_exact<int64_t>(); i && *i >= 0) {
      cfg.deterministic = true;
      cfg.seed = uint64_t(*i);
    } else {
      throw Error(source + ": machine.deterministic must be true, false or a seed (an integer >= 0)");
    }
  }
  read_path(root, "guest", "image", cfg.image, base_dir, source);
  read_string(root, "guest", "cmdline", cfg.cmdline, source);
  read_path(root, "nvm", "path", cfg.nvm_path, base_dir, source);
  if (auto node = root["serial"]["console"]) {
    auto b = node.value_exact<bool>();
    if (!b) throw Error(source + ": serial.console must be true or false");
    cfg.serial_console = *b;
  }
  read_path(root, "serial", "log", cfg.serial_log, base_dir, source);
  read_path(root, "monitor", "socket", cfg.monitor_path, base_dir, source);
  read_string(root, "log", "level", cfg.log_level, source);
  read_bool(root, "ckpt", "enabled", cfg.ckpt_enabled, source);
  read_number(root, "ckpt", "interval_ms", cfg.ckpt_interval_ms, source);
  read_string(root, "ckpt", "policy", cfg.ckpt_policy, source);
  read_uint(root, "ckpt", "hot_threshold", cfg.ckpt_hot_threshold, source);
  read_uint(root, "ckpt", "history", cfg.ckpt_history, source);
  read_uint(root, "ckpt", "neighbours", cfg.ckpt_neighbours, source);
  read_uint(root, "ckpt", "hot_lease", cfg.ckpt_hot_lease, source);
  read_bool(root, "ckpt", "copier", cfg.ckpt_copier, source);
  read_string(root, "ckpt", "persistence", cfg.persistence, source);
  read_bool(root, "ckpt", "verify", cfg.verify, source);
  read_string(root, "ckpt", "dirty_log", cfg.ckpt_dirty_log, source);
  read_string(root, "ckpt", "write_protect", cfg.ckpt_write_protect, source);
  read_bool(root, "power", "restart", cfg.power_restart, source);
  read_number(root, "power", "restart_delay_ms", cfg.power_restart_delay_ms, source);
  read_string(root, "net", "tap", cfg.net_tap, source);
  read_string(root, "net", "peer", cfg.net_peer, source);
  read_string(root, "net", "mac", cfg.net_mac, source);
  read_bool(root, "net", "external_sync", cfg.net_external_sync, source);
  read_uint(root, "net", "max_held", cfg.net_max_held, source);
}

void load_config_file(Config& cfg, const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("config file '" + path.string() + "' cannot be read (not a regular file)");
  std::ifstream in(path);
  if (!in) throw Error("config file '" + path.string() + "' cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  auto base = std::filesystem::absolute(path).parent_path();
  apply_toml(cfg, text.str(), base, path.string());
}

void validate(const Config& cfg) {
  // First: the checks below echo values, which must then be one line.
  for (auto [key, value] : {std::pair<const char*, const std::string*>{"machine.accel", &cfg.accel},
                            {"guest.image", &cfg.image},
                            {"guest.cmdline", &cfg.cmdline},
                            {"nvm.path", &cfg.nvm_path},
                            {"serial.log", &cfg.serial_log},
                            {"monitor.socket", &cfg.monitor_path},
                            {"log.level", &cfg.log_level},
                            {"ckpt.policy", &cfg.ckpt_policy},
                            {"ckpt.dirty_log", &cfg.ckpt_dirty_log},
                            {"ckpt.write_protect", &cfg.ckpt_write_protect},
                            {"ckpt.persistence", &cfg.persistence},
                            {"net.tap", &cfg.net_tap},
                            {"net.peer", &cfg.net_peer},
                            {"net.mac", &cfg.net_mac}})
    check_text(key, *value);
  if (cfg.memory_bytes < kMinMemory || cfg.memory_bytes > kMaxMemory || cfg.memory_bytes % (2u << 20) != 0)
    throw Error("machine.memory: " + std::to_string(cfg.memory_bytes) +
                " bytes is not allowed (allowed: 16M to 64G, a multiple of 2M)");
  if (cfg.vcpus < 1 || cfg.vcpus > kMaxVcpus)
    throw Error("machine.vcpus: " + std::to_string(cfg.vcpus) + " is not allowed (allowed: 1-" +
                std::to_string(kMaxVcpus) + ")");
  if (cfg.image.empty()) throw Error("guest.image: no guest image given (allowed: a path to an ELF64 PVH image)");
  if (cfg.cmdline.size() > kMaxCmdline - 64)
    throw Error("guest.cmdline: " + std::to_string(cfg.cmdline.size()) + " bytes is too long (allowed: at most " +
                std::to_string(kMaxCmdline - 64) + ")");
  if (cfg.nvm_path.empty()) throw Error("nvm.path: empty (allowed: a file path, e.g. /dev/shm/hypersls.nvm)");
  constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
  if (cfg.monitor_path.size() > kMaxSocketPath)
    throw Error("monitor.socket: " + std::to_string(cfg.monitor_path.size()) + " bytes is too long for a Unix socket path (allowed: at most " +
                std::to_string(kMaxSocketPath) + " bytes)");
  if (!(cfg.ckpt_interval_ms >= 0.5 && cfg.ckpt_interval_ms <= 1000))
    throw Error("ckpt.interval_ms: " + std::to_string(cfg.ckpt_interval_ms) + " is not allowed (allowed: 0.5 to 1000)");
  static const std::set<std::string> policies = {"auto", "stop-and-copy", "precopy", "cow", "hybrid"};
  if (!policies.count(cfg.ckpt_policy))
    throw Error("ckpt.policy: '" + cfg.ckpt_policy + "' is not allowed (allowed: auto, stop-and-copy, precopy, cow, hybrid)");
  if (cfg.ckpt_history < 1 || cfg.ckpt_history > 8)
    throw Error("ckpt.history: " + std::to_string(cfg.ckpt_history) + " is not allowed (allowed: 1-8 epochs)");
  if (cfg.ckpt_hot_threshold < 1 || cfg.ckpt_hot_threshold > cfg.ckpt_history)
    throw Error("ckpt.hot_threshold: " + std::to_string(cfg.ckpt_hot_threshold) +
                " is not allowed (allowed: 1 to ckpt.history = " + std::to_string(cfg.ckpt_history) + ")");
  if (cfg.ckpt_neighbours > 64)
    throw Error("ckpt.neighbours: " + std::to_string(cfg.ckpt_neighbours) + " is not allowed (allowed: 0-64)");
  if (cfg.ckpt_hot_lease > 1000)
    throw Error("ckpt.hot_lease: " + std::to_string(cfg.ckpt_hot_lease) + " is not allowed (allowed: 0-1000 epochs)");
  if (cfg.persistence != "eadr" && cfg.persistence != "adr")
    throw Error("ckpt.persistence: '" + cfg.persistence + "' is not allowed (allowed: eadr, adr)");
  if (cfg.accel != "auto" && cfg.accel != "kvm" && cfg.accel != "tcg")
    throw Error("machine.accel: '" + cfg.accel + "' is not allowed (allowed: auto, kvm, tcg)");
  if (!cfg.deterministic && (cfg.stop_at_block || cfg.powerfail_at_block || !cfg.record_input.empty() || !cfg.replay_input.empty()))
    throw Error("--stop-at-block, --powerfail-at-block, --record-input and --replay-input belong to a deterministic machine: add --deterministic");
  if (cfg.deterministic && cfg.accel == "kvm")
    throw Error("machine.deterministic needs the software CPU: KVM runs on the host's clock (use --accel tcg or auto)");
  if (cfg.deterministic && !cfg.net_tap.empty())
    throw Error("machine.deterministic: the network (net.tap) is input from outside that a deterministic run cannot replay; leave net.tap empty (net.peer = \"kv\" is a network the run can replay)");
  if (!cfg.net_peer.empty() && cfg.net_peer != "kv")
    throw Error("net.peer: '" + cfg.net_peer + "' is not allowed (allowed: kv, the built-in kvd client)");
  if (!cfg.net_peer.empty() && !cfg.net_tap.empty())
    throw Error("net.peer and net.tap: the device has one cable; give one of them");
  if (cfg.ckpt_dirty_log != "auto" && cfg.ckpt_dirty_log != "bitmap" && cfg.ckpt_dirty_log != "ring" &&
      cfg.ckpt_dirty_log != "tlb" && cfg.ckpt_dirty_log != "store")
    throw Error("ckpt.dirty_log: '" + cfg.ckpt_dirty_log + "' is not allowed (allowed: auto, ring, bitmap, tlb, store)");
  if (cfg.ckpt_write_protect != "auto" && cfg.ckpt_write_protect != "userfaultfd" && cfg.ckpt_write_protect != "guard")
    throw Error("ckpt.write_protect: '" + cfg.ckpt_write_protect + "' is not allowed (allowed: auto, userfaultfd, guard)");
  if (!(cfg.power_restart_delay_ms >= 0 && cfg.power_restart_delay_ms <= 60000))
    throw Error("power.restart_delay_ms: not allowed (allowed: 0 to 60000)");
  if (cfg.net_tap.size() >= 16 || cfg.net_tap.find_first_of(" /:\t") != std::string::npos)
    throw Error("net.tap: '" + cfg.net_tap + "' is not an interface name (allowed: up to 15 characters, no spaces, '/' or ':')");
  auto mac = parse_mac(cfg.net_mac);
  if (!mac) throw Error("net.mac: '" + cfg.net_mac + "' is not a MAC address (allowed: e.g. \"52:54:00:12:34:56\")");
  if ((*mac)[0] & 1) throw Error("net.mac: '" + cfg.net_mac + "' is a multicast address (allowed: a unicast MAC)");
  if (cfg.net_max_held < 1 || cfg.net_max_held > 256)
    throw Error("net.max_held: " + std::to_string(cfg.net_max_held) + " is not allowed (allowed: 1-256 frames)");
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "warning", "error", "err", "critical", "off"};
  if (!levels.count(cfg.log_level))
    throw Error("log.level: '" + cfg.log_level + "' is not allowed (allowed: trace, debug, info, warn, error, critical, off)");
}

}  // namespace hsls
