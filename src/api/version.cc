// Anchor translation unit of libeffi.so (the layers are linked in whole); records the build's
// version string in the binary.
#include "effi/effi.hpp"

namespace effi {
extern const char kLibraryIdent[] = "effi " EFFI_VERSION_STRING;
}  // namespace effi
