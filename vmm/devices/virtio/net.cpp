#include "vmm/devices/virtio/net.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cstring>

#include "vmm/core/clock.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/devices/virtio/virtio.h"

namespace hsls::virtio {
namespace {

// Largest frame we transmit: Ethernet with a VLAN tag, no offloads negotiated
// (what the hold queue takes, and all a restored one may hold).
constexpr size_t kMaxTxFrame = net::HoldQueue::kMaxFrameBytes;
static_assert(kMaxTxFrame == 1518);
constexpr size_t kRxBuffer = 65536;
enum EpollTag : uint32_t { kTagRx, kTagTx, kTagRelease, kTagStop, kTagTap };

// Counters of the machines this process ran before the current one (each
// power failure ends a machine), so `info net` counts since vmm started.
std::mutex g_carry_mu;
nlohmann::json g_carry = nlohmann::json::object();
constexpr const char* kCounters[] = {"tx_frames", "rx_frames", "tx_dropped", "rx_dropped", "link_errors",
                                     "queued",    "restored",  "released",   "dropped_powerfail"};

}  // namespace

VirtioNet::VirtioNet(const NetConfig& cfg, std::shared_ptr<net::Link> link, Dma& dma, IrqEdge& irq, uint64_t epoch)
    : cfg_(cfg),
      link_(std::move(link)),
      dma_(dma),
      mmio_("virtio-net", *this, dma, irq),
      hold_(cfg.max_held),
      epoch_(epoch),
      committed_(epoch - 1),
      buf_(kNetHdrBytes + kRxBuffer) {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw Error(errno_text("epoll_create1 (virtio-net)"));
  auto add = [&](int fd, uint32_t tag, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = tag;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) throw Error(errno_text("epoll_ctl (virtio-net)"));
  };
  add(rx_kick_.fd(), kTagRx, EPOLLIN);
  add(tx_kick_.fd(), kTagTx, EPOLLIN);
  add(release_kick_.fd(), kTagRelease, EPOLLIN);
  add(stop_kick_.fd(), kTagStop, EPOLLIN);
  if (!inline_io()) add(link_->fd(), kTagTap, 0);  // armed while the guest has receive buffers
}

VirtioNet::~VirtioNet() {
  stop();
  if (epoll_ >= 0) ::close(epoll_);
}

std::string VirtioNet::cmdline_entry() { return fmt::format("virtio_mmio.device=4K@{:#x}:{}", kMmioBase, kGsi); }

uint32_t VirtioNet::device_id() const { return kNetDeviceId; }

uint64_t VirtioNet::device_features() const { return kFVersion1 | kNetFMac | kNetFStatus; }

void VirtioNet::read_config(uint64_t offset, uint8_t* data, unsigned len) {
  uint8_t cfg[8] = {};
  std::memcpy(cfg, cfg_.mac.data(), 6);
  uint16_t status = kNetLinkUp;
  std::memcpy(cfg + 6, &status, 2);
  for (unsigned i = 0; i < len; ++i) data[i] = offset + i < sizeof cfg ? cfg[offset + i] : 0;
}

const EventFd* VirtioNet::notify_event(unsigned q) const {
  if (inline_io()) return nullptr;
  return q == kRxQueue ? &rx_kick_ : &tx_kick_;
}

void VirtioNet::notify(unsigned q) {
  if (!inline_io()) return (q == kRxQueue ? rx_kick_ : tx_kick_).signal();
  move_frames_now();
}

void VirtioNet::resumed() {
  if (inline_io()) move_frames_now();
}

// Inline links: one pass on the calling thread, under the transport's lock.
void VirtioNet::move_frames_now() {
  std::lock_guard lock(mmio_.mutex());
  move_frames();
}

// One pass over everything that may move (lock held): released frames out,
// the TX ring into the hold queue, the link's frames into the RX ring.
void VirtioNet::move_frames() {
  if (dead_) return;
  try {
    send_released();
    process_tx();
    process_rx();
  } catch (const std::exception& e) {
    log::get("net")->error("{}: {}", link_->name(), e.what());
  }
}

void VirtioNet::reset() { set_rx_polling(false); }

void VirtioNet::start() {
  if (inline_io()) return move_frames_now();  // whatever the restored rings or held frames need
  io_ = std::thread([this] { io_loop(); });
  // Whatever the restored rings or held frames need is done at once.
  rx_kick_.signal();
  tx_kick_.signal();
  release_kick_.signal();
}

void VirtioNet::stop() {
  if (io_.joinable()) {
    stop_kick_.signal();
    io_.join();
  }
  if (carried_) return;
  carried_ = true;
  std::lock_guard lock(mmio_.mutex());
  if (dead_) {
    hold_.count_lost();
    if (hold_.size()) log::get("net")->warn("power failure: {} held frame(s) dropped, never sent", hold_.size());
  }
  nlohmann::json mine = counters();
  std::lock_guard carry(g_carry_mu);
  for (const char* k : kCounters) g_carry[k] = g_carry.value(k, uint64_t(0)) + mine[k].get<uint64_t>();
}

// This machine's counters (lock held).
nlohmann::json VirtioNet::counters() const {
  nlohmann::json out = hold_.stats();
  out["tx_frames"] = tx_frames_;
  out["rx_frames"] = rx_frames_;
  out["tx_dropped"] = tx_dropped_;
  out["rx_dropped"] = rx_dropped_;
  out["link_errors"] = link_errors_;
  return out;
}

void VirtioNet::power_off() {
  dead_ = true;
  stop_kick_.signal();
  link_->power_lost();
}

void VirtioNet::set_rx_polling(bool on) {
  if (on == rx_polling_) return;
  epoll_event ev{};
  ev.events = on ? uint32_t(EPOLLIN) : 0u;
  ev.data.u32 = kTagTap;
  if (!inline_io()) ::epoll_ctl(epoll_, EPOLL_CTL_MOD, link_->fd(), &ev);
  rx_polling_ = on;
}

void VirtioNet::io_loop() {
  pthread_setname_np(pthread_self(), "virtio-net");
  epoll_event evs[8];
  for (;;) {
    int n = ::epoll_wait(epoll_, evs, 8, -1);
    if (n < 0 && errno != EINTR) {
      log::get("net")->error("{}", errno_text("epoll_wait"));
      return;
    }
    for (int i = 0; i < n; ++i) {
      switch (evs[i].data.u32) {
        case kTagStop: return;
        case kTagRx: rx_kick_.drain(); break;
        case kTagTx: tx_kick_.drain(); break;
        case kTagRelease: release_kick_.drain(); break;
        default: break;
      }
    }
    if (dead_) return;
    std::lock_guard lock(mmio_.mutex());
    move_frames();
  }
}

// TX ring -> hold queue (or straight to the link without external synchrony).
void VirtioNet::process_tx() {
  if (!mmio_.live(kTxQueue)) return;
  Virtqueue q = mmio_.queue(kTxQueue);
  bool used = false;
  std::string why;
  Chain c;
  std::vector<uint8_t> frame;
  // At most a full ring per pass: a guest whose used ring lies over its
  // available ring makes each return offer the chain again (and a guest can
  // keep adding as fast as we take), which kept this loop, holding the
  // transport lock, from ever ending. What is left waits for the next pass.
  for (unsigned budget = kQueueMax; !hold_.full(); --budget) {
    if (budget == 0) {
      tx_kick_.signal();
      break;
    }
    Pop r = q.pop(c, why);
    if (r == Pop::empty) break;
    if (r == Pop::malformed) {
      mmio_.fail("transmit queue: " + why);
      break;
    }
    if (c.readable < kNetHdrBytes || c.readable > kNetHdrBytes + kMaxTxFrame) {
      ++tx_dropped_;  // no frame in it, or one larger than anything we negotiated
    } else {
      frame.resize(c.readable);
      size_t at = 0;
      for (const Buffer& b : c.bufs) {
        if (b.writable) break;
        dma_.read(b.gpa, frame.data() + at, b.len);  // in RAM: checked by pop()
        at += b.len;
      }
      std::span<const uint8_t> eth(frame.data() + kNetHdrBytes, frame.size() - kNetHdrBytes);
      if (cfg_.external_sync) hold_.push(epoch_, eth, monotonic_ns());
      else if (!link_->write(eth.data(), eth.size())) ++link_errors_;
      ++tx_frames_;
    }
    if (!q.push(c.head, 0)) {
      if (!dead_) mmio_.fail("transmit queue: used ring is not writable");
      return;
    }
    used = true;
  }
  if (used && q.wants_interrupt()) mmio_.raise(kIntUsedBuffer);
}

// Held frames whose checkpoint committed -> link.
void VirtioNet::send_released() {
  uint64_t upto = cfg_.external_sync ? committed_ : UINT64_MAX;
  hold_.release(upto, monotonic_ns(), [&](const net::HeldFrame& f) {
    if (!link_->write(f.bytes.data(), f.bytes.size())) ++link_errors_;
  });
}

// Link -> RX ring, while the guest has buffers.
void VirtioNet::process_rx() {
  if (!mmio_.live(kRxQueue)) {
    set_rx_polling(false);
    return;
  }
  Virtqueue q = mmio_.queue(kRxQueue);
  bool used = false;
  std::string why;
  Chain c;
  for (unsigned budget = 64; budget > 0; --budget) {
    bool bad = false;
    if (!q.has_available(bad, why)) {
      if (bad) mmio_.fail("receive queue: " + why);
      set_rx_polling(false);  // until the driver adds buffers
      break;
    }
    size_t n = link_->read(buf_.data() + kNetHdrBytes, kRxBuffer);
    if (n == 0) {
      set_rx_polling(true);
      break;
    }
    Pop r = q.pop(c, why);
    if (r == Pop::malformed) {
      mmio_.fail("receive queue: " + why);
      break;
    }
    size_t total = kNetHdrBytes + n;
    if (c.writable < total) {
      ++rx_dropped_;  // the frame does not fit this buffer; keep it for the next
      q.unpop();
      continue;
    }
    std::memset(buf_.data(), 0, kNetHdrBytes);
    uint16_t num_buffers = 1;
    std::memcpy(buf_.data() + 10, &num_buffers, 2);
    size_t at = 0;
    bool ok = true;
    for (const Buffer& b : c.bufs) {
      if (!b.writable || at == total) continue;
      size_t k = std::min<size_t>(b.len, total - at);
      ok = dma_.write(b.gpa, buf_.data() + at, k) && ok;
      at += k;
    }
    if (!ok || !q.push(c.head, uint32_t(total))) {
      if (!dead_) mmio_.fail("receive queue: buffer is not writable");
      return;
    }
    ++rx_frames_;
    used = true;
  }
  if (used && q.wants_interrupt()) mmio_.raise(kIntUsedBuffer);
}

void VirtioNet::committed(uint64_t version) {
  committed_ = version;
  epoch_ = version + 1;
  link_->committed(version);
  if (hold_.size() && !inline_io()) release_kick_.signal();
}

void VirtioNet::save(std::vector<uint8_t>& out) const {
  NetState st;
  std::memcpy(st.mac, cfg_.mac.data(), 6);
  st.link = kNetLinkUp;
  st.mmio = mmio_.save();
  out.resize(sizeof st);
  hold_.serialize(out);
  st.held_bytes = out.size() - sizeof st;
  std::memcpy(out.data(), &st, sizeof st);
}

void VirtioNet::restore(std::span<const uint8_t> in) {
  NetState st;
  if (in.size() < sizeof st) throw Error("virtio-net: saved state is truncated");
  std::memcpy(&st, in.data(), sizeof st);
  if (st.version != NetState::kVersion || st.mmio.version != MmioState::kVersion)
    throw Error("virtio-net: saved state has version " + std::to_string(st.version) + ", expected " +
                std::to_string(NetState::kVersion));
  if (st.held_bytes != in.size() - sizeof st) throw Error("virtio-net: saved state has a bad length");
  std::string why;
  if (!hold_.deserialize(in.subspan(sizeof st), monotonic_ns(), why)) throw Error("virtio-net: saved frames: " + why);
  if (std::memcmp(st.mac, cfg_.mac.data(), 6) != 0)
    log::get("net")->warn("net.mac differs from the checkpoint's; the guest keeps the MAC it read at boot");
  mmio_.restore(st.mmio);
  for (unsigned q = 0; q < queue_count(); ++q) {
    if (!st.mmio.queues[q].ready) continue;
    if (!mmio_.queue(q).check_layout(why)) mmio_.fail("restored queue " + std::to_string(q) + ": " + why);
  }
}

nlohmann::json VirtioNet::info() {
  std::lock_guard lock(mmio_.mutex());
  nlohmann::json out = counters();
  if (!carried_) {
    std::lock_guard carry(g_carry_mu);  // since vmm started, across power failures
    for (const char* k : kCounters) out[k] = out[k].get<uint64_t>() + g_carry.value(k, uint64_t(0));
  }
  out["link"] = link_->name();
  if (auto peer = link_->info(); !peer.is_null()) out["peer"] = peer;
  out["mac"] = fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", cfg_.mac[0], cfg_.mac[1], cfg_.mac[2], cfg_.mac[3],
                           cfg_.mac[4], cfg_.mac[5]);
  out["external_sync"] = cfg_.external_sync;
  out["status"] = mmio_.status();
  out["driver_ok"] = (mmio_.status() & kDriverOk) != 0;
  out["needs_reset"] = mmio_.needs_reset();
  out["malformed"] = mmio_.malformed();
  out["epoch"] = epoch_;
  return out;
}

}  // namespace hsls::virtio
