// <linux/kvm.h> for C++. Some uapi headers declare flexible arrays with
// __DECLARE_FLEX_ARRAY, which in C++ adds an empty struct of size 1 and so
// changes sizeof(kvm_cpuid2), kvm_msrs, ... and the ioctl numbers built from
// them. Declare them the C way before the KVM headers are read.
#pragma once
#include <linux/stddef.h>
#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]
#include <linux/kvm.h>

static_assert(sizeof(kvm_cpuid2) == 8, "kvm_cpuid2 must match the kernel's layout");
static_assert(sizeof(kvm_msrs) == 8, "kvm_msrs must match the kernel's layout");
static_assert(sizeof(kvm_msr_list) == 4, "kvm_msr_list must match the kernel's layout");
static_assert(sizeof(kvm_xsave) == 4096, "kvm_xsave must match the kernel's layout");
