#include "vmm/accel/kick.h"

#include "vmm/accel/accel.h"

namespace hsls::accel {
namespace {

thread_local Vcpu* tls_vcpu = nullptr;

void on_kick(int) {
  if (tls_vcpu) tls_vcpu->kicked_by_signal();
}

}  // namespace

void install_kick_signal() {
  struct sigaction sa{};
  sa.sa_handler = on_kick;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(kKickSignal, &sa, nullptr);
}

void set_thread_vcpu(Vcpu* vcpu) { tls_vcpu = vcpu; }

}  // namespace hsls::accel
