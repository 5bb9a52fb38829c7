// The monitor server: one thread polling the terminal (when stdin is a
// terminal), a Unix socket (mode 0600) and its clients. Each line is a
// command; socket replies and events are one JSON object per line.
#pragma once
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/core/fd.h"
#include "vmm/monitor/line_reader.h"

namespace hsls {

class Machine;

// Refuses a monitor socket path that is in use by a live vmm or is not a
// socket (throws Error); call before anything else is created.
void check_monitor_path(const std::string& socket_path);

class Monitor {
 public:
  // Creates the socket at `socket_path` ("" = none); refuses a path that is
  // in use by a live vmm or is not a socket. Throws Error.
  Monitor(const std::string& socket_path, bool use_terminal);

  // Serves commands against `machine` (null: the power is off). The machine
  // must outlive its attachment.
  void attach(Machine* machine);
  // Sends an event to every client (any thread).
  void broadcast(const nlohmann::json& event);
  ~Monitor();

  void start();
  // Delivers pending events, closes clients and removes the socket.
  void stop();

 private:
  struct Client {
    Fd fd;
    LineAssembler lines;
  };
  void loop();
  void accept_client();
  // Reads from a client; false once it is gone.
  bool read_client(Client& c);
  void read_terminal();
  void send_line(Client& c, const std::string& line);
  void deliver_events();
  void wake();
  nlohmann::json execute(const std::string& line);

  std::mutex machine_mu_;
  Machine* machine_ = nullptr;
  std::string socket_path_;
  bool use_terminal_;
  Fd listen_fd_;
  Fd wake_fd_;
  std::vector<Client> clients_;
  LineAssembler terminal_lines_;
  std::mutex events_mu_;
  std::deque<std::string> events_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hsls
