// A 16550-compatible UART (COM1 at 0x3f8, IRQ 4). Transmit goes to the
// terminal and/or a log file, line by line; receive takes bytes pushed by
// the monitor. Its register state is a plain versioned struct.
#pragma once
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>

#include "vmm/devices/device.h"

namespace hsls {

// Everything the guest can observe of the UART; checkpointed as is.
struct SerialState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint8_t ier = 0, lcr = 0, mcr = 0, scr = 0, fcr = 0, dll = 1, dlm = 0;
  uint8_t thr_empty_pending = 0;  // THRE interrupt raised and not yet acknowledged
  uint16_t rx_len = 0;
  uint8_t rx[256] = {};           // receive FIFO content, oldest first
  uint8_t pad[2] = {};            // explicit: no byte of it is left unset (it is written to the NVM file as is)
};
static_assert(std::has_unique_object_representations_v<SerialState> && sizeof(SerialState) == 272);

class Serial : public Device {
 public:
  static constexpr uint16_t kBase = 0x3f8;
  static constexpr uint16_t kSize = 8;
  static constexpr uint32_t kIrq = 4;

  // `console`: echo guest output to stdout; `log_path`: also append it there.
  Serial(IrqLine& irq, bool console, const std::string& log_path);
  ~Serial() override;

  std::string_view name() const override { return "serial"; }
  void read(uint64_t offset, uint8_t* data, unsigned len) override;
  void write(uint64_t offset, const uint8_t* data, unsigned len) override;

  // Queues bytes for the guest to receive; returns how many fit.
  size_t push_input(const std::string& bytes);
  // Calls `fn` with each complete line of guest output (without newline).
  void on_line(std::function<void(const std::string&)> fn);
  // Writes out a partial last line, if any.
  void flush();

  SerialState save() const;
  void restore(const SerialState& s);

 private:
  uint8_t read_reg(unsigned reg);
  void write_reg(unsigned reg, uint8_t value);
  void transmit(uint8_t byte);
  void emit_line();
  void update_irq();

  mutable std::mutex mu_;
  SerialState st_;
  IrqLine& irq_;
  bool console_;
  FILE* log_ = nullptr;
  std::string line_;
  std::function<void(const std::string&)> line_fn_;
};

}  // namespace hsls
