// Monitor input: LineAssembler (lines, the length limit, discarding the
// rest of a refused line) and the monitor socket end to end (no machine
// attached: every command that runs gets the "powered off" reply).
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/monitor/line_reader.h"
#include "vmm/monitor/monitor.h"

using namespace hsls;

namespace {

constexpr size_t kMax = LineAssembler::kMaxLine;

using Items = std::vector<std::string>;

// Feeds `text` in chunks of `chunk` bytes; returns the items in order,
// lines as themselves and refusals as "<too long>".
Items feed_items(LineAssembler& a, const std::string& text, size_t chunk = 4096) {
  Items out;
  for (size_t at = 0; at < text.size(); at += chunk)
    for (auto& item : a.feed(std::string_view(text).substr(at, chunk)))
      out.push_back(item.too_long ? "<too long>" : item.line);
  return out;
}

// Items as "[a][b]" (printable in a failed check).
std::string show(const Items& items) {
  std::string out;
  for (const auto& i : items) out += "[" + (i.size() > 64 ? std::to_string(i.size()) + " bytes" : i) + "]";
  return out;
}

std::string feed(LineAssembler& a, const std::string& text, size_t chunk = 4096) { return show(feed_items(a, text, chunk)); }

// A client of a Monitor's socket.
struct Client {
  int fd = -1;
  std::string inbox;
  explicit Client(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { ::close(fd); }
  void send_all(const std::string& s) {
    size_t sent = 0;
    while (sent < s.size()) {
      ssize_t n = ::send(fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      sent += size_t(n);
    }
  }
  // The next reply line, or "" after 5 s without one.
  std::string reply() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      auto nl = inbox.find('\n');
      if (nl != std::string::npos) {
        std::string line = inbox.substr(0, nl);
        inbox.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) return "";
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return "";
      inbox.append(buf, size_t(n));
    }
  }
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("monitor_lines") {

TEST_CASE("line assembler: lines, CRLF, empty lines, lines split across reads") {
  LineAssembler a;
  CHECK(feed(a, "help\ninfo status\r\n\n") == "[help][info status][]");
  CHECK(feed(a, "pau") == "");
  CHECK(a.pending() == 3);
  CHECK(feed(a, "se\nres") == "[pause]");
  CHECK(feed(a, "ume\n") == "[resume]");
  CHECK(a.pending() == 0);
}

TEST_CASE("line assembler: the tail of an over-long line never becomes a command") {
  // The fuzzer's input: 70,000 spaces between "x" and "pause".
  std::string evil = "x" + std::string(70000, ' ') + "pause\n";
  for (size_t chunk : {size_t(1), size_t(7), size_t(4096), evil.size()}) {
    CAPTURE(chunk);
    LineAssembler a;
    CHECK(feed(a, evil + "help\n", chunk) == "[<too long>][help]");
  }
}

TEST_CASE("line assembler: the limit holds as bytes arrive, not per read") {
  LineAssembler a;
  // One byte past the limit is refused at once, before the read ends or a newline comes.
  CHECK(feed(a, std::string(kMax, 'a'), kMax) == "");
  CHECK(a.pending() == kMax);
  CHECK(feed(a, "a") == "[<too long>]");
  CHECK(a.pending() == 0);
  CHECK(a.discarding());
  // Everything up to the newline is dropped (and counts against nothing), then lines run again.
  CHECK(feed(a, std::string(200000, 'b')) == "");
  CHECK(a.pending() == 0);
  CHECK(feed(a, "more\nquit\n") == "[quit]");
  CHECK_FALSE(a.discarding());
}

TEST_CASE("line assembler: a line of exactly the limit passes, one byte more does not") {
  std::string exact(kMax, 'y');
  for (size_t chunk : {size_t(4096), size_t(kMax), size_t(kMax + 1), size_t(3)}) {
    CAPTURE(chunk);
    LineAssembler a;
    auto items = feed_items(a, exact + "\n" + exact + "\r\n" + exact + "z\n" + exact + "\rz\n" + "ok\n", chunk);
    REQUIRE(items.size() == 5);
    CHECK(items[0] == exact);
    CHECK(items[1] == exact);  // the "\r" of "\r\n" is not part of the line
    CHECK(items[2] == "<too long>");
    CHECK(items[3] == "<too long>");  // a "\r" that does not end the line counts
    CHECK(items[4] == "ok");
  }
}

TEST_CASE("line assembler: a refusal is reported once per line") {
  LineAssembler a(8);
  CHECK(feed(a, "123456789012345678901234567890\n12345678\n123456789\n", 1) ==
        "[<too long>][12345678][<too long>]");
}

TEST_CASE("monitor socket: an over-long line is refused once and its tail never runs") {
  std::string path = "/tmp/hsls-unit-monitor-" + std::to_string(::getpid()) + ".sock";
  Monitor monitor(path, false);
  monitor.start();
  // Without a machine attached every command that runs is answered "powered
  // off", so the replies up to the end of input count the commands that ran.
  auto replies = [&](const std::string& input) {
    Client c(path);
    c.send_all(input);
    ::shutdown(c.fd, SHUT_WR);
    Items out;
    for (std::string r; !(r = c.reply()).empty();)
      out.push_back(has(r, "line too long") ? "too long" : has(r, "powered off") ? "ran" : r);
    return show(out);
  };
  // The fuzzer's input: "x", 70,000 spaces, "pause"; then a line that runs.
  CHECK(replies("x" + std::string(70000, ' ') + "pause\nhelp\n") == "[too long][ran]");
  // A line of exactly the limit runs; one byte more is refused, and so is its tail.
  CHECK(replies(std::string(kMax - 4, ' ') + "help\n") == "[ran]");
  CHECK(replies(std::string(kMax - 4, ' ') + "help\r\n") == "[ran]");
  CHECK(replies(std::string(kMax - 3, ' ') + "help\n" + "quit\n") == "[too long][ran]");
  // Many long lines in a row: one refusal each.
  std::string many;
  for (int i = 0; i < 3; ++i) many += std::string(kMax + 10, ' ') + "pause\n";
  CHECK(replies(many + "help\n") == "[too long][too long][too long][ran]");
  monitor.stop();
}

}  // TEST_SUITE
