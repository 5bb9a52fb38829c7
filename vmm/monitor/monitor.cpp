#include "vmm/monitor/monitor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/machine.h"
#include "vmm/monitor/commands.h"

namespace hsls {
namespace {

constexpr size_t kMaxClients = 16;
const std::string kTooLong = "line too long (allowed: " + std::to_string(LineAssembler::kMaxLine) + " bytes)";

// Fills a sockaddr_un; throws if the path is too long.
sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw Error("monitor.socket: path '" + path + "' is too long (allowed: at most 107 bytes)");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// True if a live process accepts connections at `path`.
bool socket_in_use(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  auto addr = unix_address(path);
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return live;
}

}  // namespace

void check_monitor_path(const std::string& socket_path) {
  if (socket_path.empty()) return;
  unix_address(socket_path);
  struct stat st{};
  if (::lstat(socket_path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw Error("monitor.socket: " + socket_path + " exists and is not a socket");
  if (socket_in_use(socket_path)) throw Error("monitor.socket: " + socket_path + " is in use by another vmm");
}

Monitor::Monitor(const std::string& socket_path, bool use_terminal)
    : socket_path_(socket_path), use_terminal_(use_terminal) {
  wake_fd_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) throw Error(errno_text("eventfd"));
  if (!socket_path_.empty()) {
    check_monitor_path(socket_path_);
    ::unlink(socket_path_.c_str());  // stale, from a vmm that died
    auto addr = unix_address(socket_path_);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw Error(errno_text("monitor socket"));
    listen_fd_ = Fd(fd);
    mode_t old = ::umask(0077);  // the socket file is born 0600
    int r = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (r != 0) throw Error(errno_text("monitor.socket: cannot bind " + socket_path_));
    ::chmod(socket_path_.c_str(), 0600);
    if (::listen(fd, 8) != 0) throw Error(errno_text("monitor.socket: listen"));
  }
}

void Monitor::attach(Machine* machine) {
  std::lock_guard lock(machine_mu_);
  machine_ = machine;
  if (machine) machine->on_event([this](const nlohmann::json& event) { broadcast(event); });
}

void Monitor::broadcast(const nlohmann::json& event) {
  {
    std::lock_guard lock(events_mu_);
    events_.push_back(event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  wake();
}

// Runs one command against the attached machine.
nlohmann::json Monitor::execute(const std::string& line) {
  std::lock_guard lock(machine_mu_);
  if (!machine_) return {{"ok", false}, {"error", "the machine is powered off (recovering); try again"}};
  return run_command(*machine_, line);
}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
  thread_ = std::thread([this] { loop(); });
}

void Monitor::stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(events_mu_);
      stopping_ = true;
    }
    wake();
    thread_.join();
  }
  if (listen_fd_) {
    listen_fd_ = Fd();
    ::unlink(socket_path_.c_str());
  }
  clients_.clear();
}

void Monitor::wake() {
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
  (void)ignored;
}

// Polls everything until stop(): terminal, listener, clients, wake-ups.
void Monitor::loop() {
  pthread_setname_np(pthread_self(), "monitor");
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({use_terminal_ ? STDIN_FILENO : -1, POLLIN, 0});
    fds.push_back({listen_fd_ ? listen_fd_.get() : -1, POLLIN, 0});
    for (auto& c : clients_) fds.push_back({c.fd.get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    // Clients first, by the indices poll saw; then everything that adds or drops clients.
    for (size_t i = clients_.size(); i-- > 0;)
      if (fds[3 + i].revents && !read_client(clients_[i])) clients_.erase(clients_.begin() + long(i));
    if (fds[1].revents) read_terminal();
    if (fds[0].revents) {
      uint64_t n;
      ssize_t ignored = ::read(wake_fd_.get(), &n, sizeof n);
      (void)ignored;
      deliver_events();
      std::lock_guard lock(events_mu_);
      if (stopping_) break;
    }
    if (fds[2].revents) accept_client();
  }
}

void Monitor::accept_client() {
  int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  if (clients_.size() >= kMaxClients) {
    const char* busy = "{\"ok\":false,\"error\":\"too many monitor clients\"}\n";
    ssize_t ignored = ::send(fd, busy, std::strlen(busy), MSG_NOSIGNAL);
    (void)ignored;
    ::close(fd);
    return;
  }
  timeval timeout{1, 0};  // a client that does not read is dropped, not waited for
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  clients_.push_back({Fd(fd), {}});
  log::get("monitor")->debug("client connected ({} now)", clients_.size());
}

bool Monitor::read_client(Client& c) {
  char buf[4096];
  ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
  if (n < 0) return true;
  for (auto& item : c.lines.feed(std::string_view(buf, size_t(n)))) {
    nlohmann::json reply;
    if (item.too_long) {
      reply = {{"ok", false}, {"error", kTooLong}};
    } else {
      reply = execute(item.line);
      reply.erase("text");
    }
    send_line(c, reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (!c.fd) return false;
  }
  return bool(c.fd);
}

void Monitor::read_terminal() {
  char buf[4096];
  ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
  if (n <= 0) {
    use_terminal_ = false;  // end of input: keep serving the socket
    return;
  }
  for (auto& item : terminal_lines_.feed(std::string_view(buf, size_t(n)))) {
    std::string out;
    if (item.too_long) {
      out = "error: " + kTooLong + "\n";
    } else {
      if (split_words(item.line).empty()) continue;
      auto reply = execute(item.line);
      if (!reply.value("ok", false)) out = "error: " + reply.value("error", std::string("?")) + "\n";
      else if (reply.contains("text")) out = reply["text"].get<std::string>();
      else out = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    if (!out.empty() && out.back() != '\n') out += '\n';
    ssize_t ignored = ::write(STDOUT_FILENO, out.data(), out.size());
    (void)ignored;
  }
}

void Monitor::send_line(Client& c, const std::string& line) {
  std::string out = line + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(c.fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      c.fd = Fd();  // gone or not reading
      return;
    }
    sent += size_t(n);
  }
}

void Monitor::deliver_events() {
  std::deque<std::string> pending;
  {
    std::lock_guard lock(events_mu_);
    pending.swap(events_);
  }
  for (const auto& e : pending)
    for (auto& c : clients_)
      if (c.fd) send_line(c, e);
  std::erase_if(clients_, [](const Client& c) { return !c.fd; });
}

}  // namespace hsls
