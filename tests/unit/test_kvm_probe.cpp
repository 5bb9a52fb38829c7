// Probing for KVM (accel = auto) answers without an exception: in the
// static vmm the first exception a process throws costs ~20 ms.
#include <doctest/doctest.h>

#include <string>

#include "vmm/accel/kvm/kvm.h"
#include "vmm/core/error.h"

using hsls::accel::kvm::Kvm;

TEST_CASE("kvm probe: a missing device says so, and throws nothing") {
  std::string why;
  bool usable = true;
  CHECK_NOTHROW(usable = Kvm::usable(why, "/nonexistent/kvm"));
  CHECK_FALSE(usable);
  CHECK(why.find("/nonexistent/kvm does not exist") != std::string::npos);
  // The constructor still throws the same words.
  CHECK_THROWS_WITH_AS(Kvm("/nonexistent/kvm"), why.c_str(), hsls::Error);
}

TEST_CASE("kvm probe: a device that is not KVM fails the API check") {
  std::string why;
  bool usable = true;
  CHECK_NOTHROW(usable = Kvm::usable(why, "/dev/null"));
  CHECK_FALSE(usable);
  CHECK(why.find("KVM API version") != std::string::npos);
}
