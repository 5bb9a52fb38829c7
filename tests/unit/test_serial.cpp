// The 16550 model: registers as the guest sees them, the interrupt line, the
// receive FIFO, output by lines, and save/restore of its state.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/devices/serial.h"

using namespace hsls;
using doctest::Contains;

namespace {

enum : unsigned { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kIirNone = 0x01, kIirThre = 0x02, kIirRx = 0x04;
constexpr uint8_t kIerRx = 0x01, kIerThre = 0x02;

// Records what the device does with its interrupt line.
struct FakeIrq : IrqLine {
  bool level = false;
  int raises = 0;  // low -> high transitions
  void set_level(bool high) override {
    if (high && !level) ++raises;
    level = high;
  }
};

// A serial port with no console and no log, plus register helpers.
struct Uart {
  FakeIrq irq;
  std::vector<std::string> lines;  // before s: ~Serial flushes a partial line into it
  Serial s{irq, false, ""};

  Uart() {
    s.on_line([this](const std::string& l) { lines.push_back(l); });
  }
  uint8_t in(unsigned reg) {
    uint8_t b = 0xcc;
    s.read(reg, &b, 1);
    return b;
  }
  void out(unsigned reg, uint8_t v) { s.write(reg, &v, 1); }
  void send(const std::string& text) {
    for (char c : text) out(THR, uint8_t(c));
  }
};

}  // namespace

TEST_SUITE("serial") {

TEST_CASE("reset state: transmitter empty, no data, no interrupt") {
  Uart u;
  uint8_t lsr = u.in(LSR);
  CHECK((lsr & kLsrThre) != 0);
  CHECK((lsr & kLsrTemt) != 0);
  CHECK((lsr & kLsrDr) == 0);
  CHECK(u.in(IIR) == kIirNone);
  CHECK(u.in(IER) == 0);
  CHECK(u.in(LCR) == 0);
  CHECK(u.in(RBR) == 0);  // empty FIFO reads 0
  CHECK(u.in(MSR) == 0xb0);  // DCD, DSR, CTS
  CHECK_FALSE(u.irq.level);
}

TEST_CASE("LSR THRE stays set while transmitting (the byte leaves at once)") {
  Uart u;
  u.send("abc");
  CHECK((u.in(LSR) & (kLsrThre | kLsrTemt)) == (kLsrThre | kLsrTemt));
}

TEST_CASE("THRE interrupt: raised when enabled, acknowledged by reading IIR, raised again by a write") {
  Uart u;
  u.out(IER, kIerThre);
  CHECK(u.in(IER) == kIerThre);
  CHECK(u.irq.level);  // enabling it with THR empty raises it
  CHECK(u.in(IIR) == kIirThre);
  CHECK_FALSE(u.irq.level);  // reading IIR acknowledged it
  CHECK(u.in(IIR) == kIirNone);

  u.out(THR, 'x');
  CHECK(u.irq.level);
  CHECK(u.irq.raises == 2);
  CHECK(u.in(IIR) == kIirThre);
  CHECK_FALSE(u.irq.level);

  // Re-writing IER with THRE still enabled does not raise it again.
  u.out(IER, kIerThre);
  CHECK_FALSE(u.irq.level);
  // Disabling it drops the line even with a pending THRE.
  u.out(THR, 'y');
  CHECK(u.irq.level);
  u.out(IER, 0);
  CHECK_FALSE(u.irq.level);
  CHECK(u.in(IIR) == kIirNone);
}

TEST_CASE("with interrupts disabled, transmitting never raises the line") {
  Uart u;
  u.send("hello\n");
  CHECK_FALSE(u.irq.level);
  CHECK(u.irq.raises == 0);
  CHECK(u.in(IIR) == kIirNone);
}

TEST_CASE("RX-available interrupt follows the receive FIFO") {
  Uart u;
  u.out(IER, kIerRx);
  CHECK_FALSE(u.irq.level);
  CHECK(u.s.push_input("ab") == 2);
  CHECK(u.irq.level);
  CHECK((u.in(LSR) & kLsrDr) != 0);
  CHECK(u.in(IIR) == kIirRx);
  CHECK(u.irq.level);  // reading IIR does not acknowledge RX data
  CHECK(u.in(RBR) == 'a');
  CHECK(u.irq.level);
  CHECK(u.in(RBR) == 'b');
  CHECK_FALSE(u.irq.level);
  CHECK((u.in(LSR) & kLsrDr) == 0);
  CHECK(u.in(IIR) == kIirNone);
}

TEST_CASE("RX data with the interrupt disabled sets LSR.DR but not the line") {
  Uart u;
  u.s.push_input("z");
  CHECK_FALSE(u.irq.level);
  CHECK((u.in(LSR) & kLsrDr) != 0);
  CHECK(u.in(IIR) == kIirNone);
  // Enabling it with data waiting raises the line.
  u.out(IER, kIerRx);
  CHECK(u.irq.level);
}

TEST_CASE("RX-available takes priority over THRE in IIR") {
  Uart u;
  u.out(IER, kIerRx | kIerThre);
  u.s.push_input("q");
  CHECK(u.in(IIR) == kIirRx);
  CHECK(u.in(IIR) == kIirRx);  // THRE still pending behind it
  CHECK(u.in(RBR) == 'q');
  CHECK(u.irq.level);  // THRE still pending
  CHECK(u.in(IIR) == kIirThre);
  CHECK_FALSE(u.irq.level);
}

TEST_CASE("the receive FIFO keeps order and holds 256 bytes") {
  Uart u;
  std::string in;
  for (int i = 0; i < 300; ++i) in.push_back(char(i & 0xff));
  CHECK(u.s.push_input(in) == 256);
  CHECK(u.s.push_input("more") == 0);  // full
  bool ordered = true;
  for (int i = 0; i < 256; ++i) ordered = ordered && u.in(RBR) == uint8_t(i);
  CHECK(ordered);
  CHECK((u.in(LSR) & kLsrDr) == 0);
  // Partial fit.
  CHECK(u.s.push_input(std::string(250, 'a')) == 250);
  CHECK(u.s.push_input("0123456789") == 6);
  CHECK(u.s.save().rx_len == 256);
}

TEST_CASE("FCR: FIFO-enabled bits in IIR, and clearing the receive FIFO") {
  Uart u;
  u.out(FCR, 0x01);
  CHECK(u.in(IIR) == (0xc0 | kIirNone));
  u.out(IER, kIerRx);
  u.s.push_input("abc");
  CHECK(u.in(IIR) == (0xc0 | kIirRx));
  CHECK(u.irq.level);
  u.out(FCR, 0x03);  // enable + clear RX
  CHECK((u.in(LSR) & kLsrDr) == 0);
  CHECK_FALSE(u.irq.level);
  CHECK(u.in(RBR) == 0);
}

TEST_CASE("DLAB: offsets 0 and 1 are the divisor latch, not THR/RBR and IER") {
  Uart u;
  // Reset divisor is 1 (115200 baud).
  u.out(LCR, 0x80);
  CHECK(u.in(DLL) == 1);
  CHECK(u.in(DLM) == 0);
  u.out(IER, 0x0f);  // not yet: DLAB is set, this is DLM
  u.out(DLL, '\n');  // a newline written as divisor must not be transmitted
  u.out(DLM, 0x02);
  CHECK(u.in(DLL) == '\n');
  CHECK(u.in(DLM) == 0x02);
  CHECK(u.in(LCR) == 0x80);
  u.out(LCR, 0x03);  // 8N1, DLAB off
  CHECK(u.in(IER) == 0);  // IER untouched by the latch writes
  CHECK_FALSE(u.irq.level);
  u.s.flush();
  CHECK(u.lines.empty());
  // Divisor survives DLAB off and on again.
  u.out(LCR, 0x83);
  CHECK(u.in(DLL) == '\n');
  CHECK(u.in(DLM) == 0x02);
  // Input waiting is not read through DLL.
  u.s.push_input("r");
  CHECK(u.in(DLL) == '\n');
  u.out(LCR, 0x03);
  CHECK(u.in(RBR) == 'r');
}

TEST_CASE("scratch, MCR and IER masks") {
  Uart u;
  u.out(SCR, 0x5a);
  CHECK(u.in(SCR) == 0x5a);
  u.out(MCR, 0xff);
  CHECK(u.in(MCR) == 0x1f);
  u.out(IER, 0xff);
  CHECK(u.in(IER) == 0x0f);
}

TEST_CASE("multi-byte reads return the register in the low byte and zero above") {
  Uart u;
  uint8_t data[4] = {0xcc, 0xcc, 0xcc, 0xcc};
  u.s.read(LSR, data, 4);
  CHECK((data[0] & kLsrThre) != 0);
  CHECK(data[1] == 0);
  CHECK(data[3] == 0);
}

TEST_CASE("output is delivered by lines through on_line") {
  Uart u;
  u.send("hello\r\nworld\n");
  REQUIRE(u.lines.size() == 2);
  CHECK(u.lines[0] == "hello");  // CR dropped
  CHECK(u.lines[1] == "world");
  u.send("\n");
  REQUIRE(u.lines.size() == 3);
  CHECK(u.lines[2] == "");
  u.send("partial");
  CHECK(u.lines.size() == 3);
  u.s.flush();
  REQUIRE(u.lines.size() == 4);
  CHECK(u.lines[3] == "partial");
  u.s.flush();  // nothing left
  CHECK(u.lines.size() == 4);
}

TEST_CASE("an over-long line is split at 4096 bytes") {
  Uart u;
  u.send(std::string(4100, 'x') + "\n");
  REQUIRE(u.lines.size() == 2);
  CHECK(u.lines[0] == std::string(4096, 'x'));
  CHECK(u.lines[1] == "xxxx");
}

TEST_CASE("output is appended to the log file; a log that cannot be opened is refused") {
  auto dir = std::filesystem::temp_directory_path() / ("hsls-serial-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto log = dir / "serial.log";
  {
    std::ofstream(log) << "earlier\n";
    FakeIrq irq;
    Serial s(irq, false, log.string());
    for (char c : std::string("boot ok\nbye")) {
      uint8_t b = uint8_t(c);
      s.write(THR, &b, 1);
    }
  }  // the destructor flushes "bye"
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "earlier\nboot ok\nbye\n");

  FakeIrq irq;
  CHECK_THROWS_WITH_AS(Serial(irq, false, (dir / "no" / "such" / "dir.log").string()), Contains("serial.log"), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("save/restore round trip") {
  Uart a;
  a.out(LCR, 0x80);
  a.out(DLL, 0x0c);
  a.out(DLM, 0x01);
  a.out(LCR, 0x03);
  a.out(IER, kIerRx | kIerThre);
  a.out(MCR, 0x0b);
  a.out(SCR, 0x77);
  a.out(FCR, 0x01);
  a.s.push_input("xyz");
  CHECK(a.in(RBR) == 'x');
  auto st = a.s.save();
  CHECK(st.version == SerialState::kVersion);
  CHECK(st.rx_len == 2);
  CHECK(st.dll == 0x0c);
  CHECK(st.dlm == 0x01);
  CHECK(st.thr_empty_pending == 1);

  Uart b;
  CHECK_FALSE(b.irq.level);
  b.s.restore(st);
  CHECK(b.irq.level);  // the restored interrupt condition drives the line
  CHECK(b.in(IER) == (kIerRx | kIerThre));
  CHECK(b.in(LCR) == 0x03);
  CHECK(b.in(MCR) == 0x0b);
  CHECK(b.in(SCR) == 0x77);
  CHECK(b.in(IIR) == (0xc0 | kIirRx));
  CHECK(b.in(RBR) == 'y');
  CHECK(b.in(RBR) == 'z');
  CHECK(b.in(IIR) == (0xc0 | kIirThre));
  CHECK_FALSE(b.irq.level);
  b.out(LCR, 0x83);
  CHECK(b.in(DLL) == 0x0c);
  CHECK(b.in(DLM) == 0x01);

  // Saving the restored device gives the same state back.
  Uart c;
  c.s.restore(st);
  auto again = c.s.save();
  CHECK(again.version == st.version);
  CHECK(again.ier == st.ier);
  CHECK(again.lcr == st.lcr);
  CHECK(again.mcr == st.mcr);
  CHECK(again.scr == st.scr);
  CHECK(again.fcr == st.fcr);
  CHECK(again.dll == st.dll);
  CHECK(again.dlm == st.dlm);
  CHECK(again.thr_empty_pending == st.thr_empty_pending);
  CHECK(again.rx_len == st.rx_len);
  CHECK(std::equal(again.rx, again.rx + again.rx_len, st.rx));
}

TEST_CASE("restore refuses another state version and keeps the current state") {
  Uart u;
  u.out(SCR, 0x42);
  auto st = u.s.save();
  st.version = SerialState::kVersion + 1;
  st.scr = 0x99;
  CHECK_THROWS_WITH_AS(u.s.restore(st), Contains("serial state version 2"), Error);
  CHECK(u.in(SCR) == 0x42);
  st.version = 0;
  CHECK_THROWS_AS(u.s.restore(st), Error);
}

TEST_CASE("restore clamps an impossible receive length") {
  Uart u;
  SerialState st;
  st.rx_len = 1000;
  u.s.restore(st);
  CHECK(u.s.save().rx_len == sizeof st.rx);
  CHECK(u.s.push_input("x") == 0);
}

}  // TEST_SUITE
