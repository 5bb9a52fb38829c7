#include "vmm/devices/serial.h"

#include <unistd.h>

#include <algorithm>

#include "vmm/core/error.h"

namespace hsls {
namespace {

// Register offsets and bits of the 16550 that the guest uses.
enum : unsigned { kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7 };
constexpr uint8_t kIerRxAvail = 0x01, kIerThrEmpty = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThrEmpty = 0x02, kIirRxAvail = 0x04, kIirFifo = 0xc0;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20, kLsrIdle = 0x40;
constexpr uint8_t kMsrDcdDsrCts = 0xb0;
constexpr size_t kLineMax = 4096;

}  // namespace

Serial::Serial(IrqLine& irq, bool console, const std::string& log_path) : irq_(irq), console_(console) {
  if (!log_path.empty()) {
    log_ = std::fopen(log_path.c_str(), "a");
    if (!log_) throw Error(errno_text("serial.log " + log_path + " cannot be opened"));
  }
}

Serial::~Serial() {
  flush();
  if (log_) std::fclose(log_);
}

void Serial::read(uint64_t offset, uint8_t* data, unsigned len) {
  std::lock_guard lock(mu_);
  std::fill(data, data + len, uint8_t(0));
  data[0] = read_reg(unsigned(offset));
}

void Serial::write(uint64_t offset, const uint8_t* data, unsigned) {
  std::lock_guard lock(mu_);
  write_reg(unsigned(offset), data[0]);
}

// Reads one register, with the side effects a real UART has.
uint8_t Serial::read_reg(unsigned reg) {
  bool dlab = st_.lcr & kLcrDlab;
  switch (reg) {
    case kRbrThr: {
      if (dlab) return st_.dll;
      if (st_.rx_len == 0) return 0;
      uint8_t b = st_.rx[0];
      std::copy(st_.rx + 1, st_.rx + st_.rx_len, st_.rx);
      --st_.rx_len;
      update_irq();
      return b;
    }
    case kIer: return dlab ? st_.dlm : st_.ier;
    case kIirFcr: {
      uint8_t fifo = (st_.fcr & 1) ? kIirFifo : 0;
      if ((st_.ier & kIerRxAvail) && st_.rx_len) return fifo | kIirRxAvail;
      if ((st_.ier & kIerThrEmpty) && st_.thr_empty_pending) {
        st_.thr_empty_pending = 0;  // reading IIR acknowledges THRE
        update_irq();
        return fifo | kIirThrEmpty;
      }
      return fifo | kIirNone;
    }
    case kLcr: return st_.lcr;
    case kMcr: return st_.mcr;
    case kLsr: return kLsrThrEmpty | kLsrIdle | (st_.rx_len ? kLsrDataReady : 0);
    case kMsr: return kMsrDcdDsrCts;
    case kScr: return st_.scr;
  }
  return 0xff;
}

// Writes one register.
void Serial::write_reg(unsigned reg, uint8_t value) {
  bool dlab = st_.lcr & kLcrDlab;
  switch (reg) {
    case kRbrThr:
      if (dlab) { st_.dll = value; return; }
      transmit(value);
      st_.thr_empty_pending = 1;  // the byte left at once
      break;
    case kIer:
      if (dlab) { st_.dlm = value; return; }
      if ((value & kIerThrEmpty) && !(st_.ier & kIerThrEmpty)) st_.thr_empty_pending = 1;
      st_.ier = value & 0x0f;
      break;
    case kIirFcr:
      st_.fcr = value;
      if (value & 0x02) st_.rx_len = 0;  // clear receive FIFO
      break;
    case kLcr: st_.lcr = value; return;
    case kMcr: st_.mcr = value & 0x1f; return;
    case kScr: st_.scr = value; return;
    default: return;
  }
  update_irq();
}

// Sends one byte of guest output to the console and the log, by lines.
void Serial::transmit(uint8_t byte) {
  if (byte == '\r') return;
  if (byte == '\n' || line_.size() >= kLineMax) {
    emit_line();
    if (byte == '\n') return;
  }
  line_.push_back(char(byte));
}

void Serial::emit_line() {
  std::string out = line_ + "\n";
  if (console_) {
    ssize_t ignored = ::write(STDOUT_FILENO, out.data(), out.size());
    (void)ignored;
  }
  if (log_) {
    std::fwrite(out.data(), 1, out.size(), log_);
    std::fflush(log_);
  }
  if (line_fn_) line_fn_(line_);
  line_.clear();
}

void Serial::flush() {
  std::lock_guard lock(mu_);
  if (!line_.empty()) emit_line();
}

void Serial::on_line(std::function<void(const std::string&)> fn) {
  std::lock_guard lock(mu_);
  line_fn_ = std::move(fn);
}

size_t Serial::push_input(const std::string& bytes) {
  std::lock_guard lock(mu_);
  size_t n = std::min(bytes.size(), sizeof st_.rx - st_.rx_len);
  std::copy(bytes.begin(), bytes.begin() + long(n), st_.rx + st_.rx_len);
  st_.rx_len = uint16_t(st_.rx_len + n);
  update_irq();
  return n;
}

// Drives IRQ 4 from the interrupt conditions the guest enabled.
void Serial::update_irq() {
  bool pending = ((st_.ier & kIerRxAvail) && st_.rx_len) || ((st_.ier & kIerThrEmpty) && st_.thr_empty_pending);
  irq_.set_level(pending);
}

SerialState Serial::save() const {
  std::lock_guard lock(mu_);
  return st_;
}

void Serial::restore(const SerialState& s) {
  std::lock_guard lock(mu_);
  if (s.version != SerialState::kVersion) throw Error("serial state version " + std::to_string(s.version) + " is not supported");
  st_ = s;
  st_.rx_len = std::min<uint16_t>(st_.rx_len, sizeof st_.rx);
  update_irq();
}

}  // namespace hsls
