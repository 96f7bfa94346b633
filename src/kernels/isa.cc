// ISA selection on top of Highway's dynamic dispatch: EFFI_MAX_ISA disables every target better
// than the requested one, so `EFFI_MAX_ISA=avx2` really runs the AVX2 code on an AVX-512 machine.
#include "kernels/isa.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "effi/error.hpp"
#include "hwy/highway.h"
#include "hwy/targets.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace effi::kernels {
namespace {

constexpr const char* kValidIsas = "scalar, avx2, avxvnni, avx512, neon";
constexpr const char* kValidKernels = "auto, ref";

// An environment value quoted in an error: at most 40 bytes, control characters as \xNN (the
// message reaches a terminal; util/text.h is not a dependency of the kernels).
std::string Quoted(const std::string& value) {
  std::string out;
  for (size_t i = 0; i < value.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return value.size() > 40 ? out + "..." : out;
}

[[noreturn]] void BadEnv(const char* name, const std::string& value, const char* valid) {
  throw Error(ErrorCode::kInvalidArgument,
              std::string(name) + "='" + Quoted(value) + "' is not valid; valid: " + valid);
}

int64_t MaxTargetFor(const std::string& isa) {
  // Highway target bits: a smaller bit is a better target.
  if (isa == "scalar") return HWY_EMU128 | HWY_SCALAR;
  if (isa == "avx2" || isa == "avxvnni") return HWY_AVX2;
  if (isa == "avx512") return HWY_AVX3_DL;  // any AVX-512 flavour
  if (isa == "neon") return HWY_NEON;
  BadEnv("EFFI_MAX_ISA", isa, kValidIsas);
}

std::once_flag g_once;
// EFFI_MAX_ISA=avx2 or scalar: the AVX2 code runs without AVX-VNNI (as on CPUs before it).
std::atomic<bool> g_cap_dot_prod{false};

// hwy::SupportedTargets() (Highway 1.0.3) re-initialises the global chosen target with EVERY
// detected target before applying DisableTargets' mask, so a later HWY_DYNAMIC_DISPATCH would run
// e.g. AVX-512 code under EFFI_MAX_ISA=avx2 (seen: "AVX2 (gemm_f32_8x48__AVX3)"). Every query
// therefore re-arms the lazy choice (DeInit), so the next dispatch re-chooses with the mask.
int64_t SupportedTargetsKeepingCap() {
  const int64_t targets = hwy::SupportedTargets();
  hwy::GetChosenTarget().DeInit();
  return targets;
}

void ApplyEnv() {
  const char* env = std::getenv("EFFI_MAX_ISA");
  if (!env || !*env) return;
  std::string isa(env);
  MaxTargetFor(isa);  // validates before anything changes
  if (isa == "avx2" || isa == "scalar") g_cap_dot_prod.store(true);
  if (isa == "scalar") {
    hwy::DisableTargets(~int64_t{HWY_EMU128 | HWY_SCALAR});
    return;
  }
  if (isa == "avx512") return;  // best available anyway (AVX-512 flavours are all allowed)
  const int64_t max = MaxTargetFor(isa);
  // Disable all targets strictly better (lower bits) than `max`.
  hwy::DisableTargets(max - 1);
}

}  // namespace

void InitIsa() { std::call_once(g_once, ApplyEnv); }

bool ReferenceKernelsRequested() {
  const char* env = std::getenv("EFFI_KERNELS");
  if (!env || !*env) return false;
  const std::string value(env);
  if (value == "ref") return true;
  if (value == "auto") return false;
  BadEnv("EFFI_KERNELS", value, kValidKernels);
}

void CheckEnvironment() {
  InitIsa();
  ReferenceKernelsRequested();
}

std::string TargetName(int64_t target) { return hwy::TargetName(target); }

std::string ActiveIsaName() {
  InitIsa();
  const int64_t targets = SupportedTargetsKeepingCap() & HWY_TARGETS;
  // Best = lowest set bit.
  const int64_t best = targets & -targets;
  return best ? hwy::TargetName(best) : "none";
}

std::vector<int64_t> AvailableTargets() {
  std::vector<int64_t> out;
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) out.push_back(t);
  hwy::GetChosenTarget().DeInit();  // see SupportedTargetsKeepingCap
  return out;
}

void ForceTargetForTest(int64_t target) { hwy::SetSupportedTargetsForTest(target); }

namespace {
std::atomic<bool> g_allow_dot_prod{true};

bool DetectInt8DotProd() {
#if defined(__aarch64__) && defined(__linux__) && defined(HWCAP_ASIMDDP)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__x86_64__) || defined(__i386__)
  // AVX-VNNI (VEX-encoded): CPUID.(EAX=7,ECX=1):EAX bit 4. The AVX2 target that uses it already
  // requires the OS to save ymm state (Highway checks XGETBV).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return (eax >> 4) & 1;
#else
  return false;
#endif
}
}  // namespace

bool HasInt8DotProd() {
  InitIsa();
  static const bool has = DetectInt8DotProd();
  return has && g_allow_dot_prod.load(std::memory_order_relaxed) &&
         !g_cap_dot_prod.load(std::memory_order_relaxed);
}

void AllowInt8DotProdForTest(bool allow) { g_allow_dot_prod.store(allow); }

}  // namespace effi::kernels
