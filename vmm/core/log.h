// One spdlog logger per subsystem, all writing to one stderr sink.
// The serial console is the guest's voice (stdout); the log is the VMM's.
#pragma once
#include <spdlog/spdlog.h>
#include <memory>
#include <string>

namespace hsls::log {

// Returns the logger of a subsystem ("vmm", "kvm", "vcpu", "dev", "boot",
// "monitor", "nvm", "ckpt", "net"), creating it on first use.
std::shared_ptr<spdlog::logger> get(const std::string& subsystem);

// Sets the level of every logger, existing and future ("trace".."off").
// Returns false for an unknown level name.
bool set_level(const std::string& level);

}  // namespace hsls::log
