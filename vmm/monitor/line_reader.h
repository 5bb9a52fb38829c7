// Monitor input: bytes in, command lines out. A line longer than the limit
// is refused the moment its bytes pass the limit (not after a whole read),
// and everything up to its newline is discarded, so no part of a refused
// line ever runs as a command. Header-only so that it needs no build change.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hsls {

class LineAssembler {
 public:
  // Longest line accepted, without its "\n" or "\r\n".
  static constexpr size_t kMaxLine = 64 * 1024;

  // What feed() found, in input order: a complete line (without "\n" or
  // "\r\n"), or the refusal of a line that grew past the limit (once per line).
  struct Item {
    bool too_long = false;
    std::string line;
  };

  LineAssembler() = default;
  explicit LineAssembler(size_t max_line) : max_(max_line) {}

  std::vector<Item> feed(std::string_view bytes) {
    std::vector<Item> out;
    while (!bytes.empty()) {
      size_t nl = bytes.find('\n');
      std::string_view part = bytes.substr(0, nl);
      if (!discarding_) {
        size_t size = pending_.size() + part.size();
        // One byte over is a "\r" that may turn out to end the line.
        bool fits = part.empty() || size <= max_ || (size == max_ + 1 && part.back() == '\r');
        if (fits) {
          pending_.append(part);
        } else {
          pending_.clear();
          pending_.shrink_to_fit();
          discarding_ = true;
          out.push_back({true, {}});
        }
      }
      if (nl == std::string_view::npos) break;
      if (discarding_) {
        discarding_ = false;  // the refused line ends here; the next one is new
      } else {
        if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
        out.push_back({false, std::move(pending_)});
        pending_.clear();
      }
      bytes.remove_prefix(nl + 1);
    }
    return out;
  }

  // Bytes of the line being assembled (0 while discarding a refused line).
  size_t pending() const { return pending_.size(); }
  bool discarding() const { return discarding_; }

 private:
  size_t max_ = kMaxLine;
  std::string pending_;
  bool discarding_ = false;
};

}  // namespace hsls
