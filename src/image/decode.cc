// JPEG and PNG decoding into RGB8. libjpeg and libpng report errors by longjmp: each decoder keeps
// its setjmp in a function whose frame owns no object with a destructor, so a jump skips nothing.
#include <fmt/format.h>
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "effi/error.hpp"
#include "image/image.h"
#include "util/file.h"
#include "util/text.h"

// clang-format off
// jpeglib.h uses FILE and size_t without including their headers, so it must come after <cstdio>.
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

namespace effi::image {
namespace {

// Decoding a hostile progressive JPEG with thousands of tiny scans costs seconds of CPU per scan
// pass; libjpeg-turbo's own TurboJPEG API caps scans at 500 for that reason, and so do we.
constexpr int kMaxJpegScans = 500;
// No real image needs more: a 200 Mpixel 16-bit RGBA PNG stored uncompressed is 1.6 GB.
constexpr int64_t kMaxFileBytes = int64_t{2} << 30;
// libpng caps each ancillary chunk it buffers (iCCP, zTXt...); its default is 8 MB.
constexpr png_alloc_size_t kMaxPngChunkBytes = 16 << 20;

[[noreturn]] void Fail(ErrorCode code, const std::string& name, const std::string& what) {
  throw Error(code, fmt::format("image '{}': {}", name, what));
}

void CheckDims(int64_t w, int64_t h, int64_t max_pixels, const std::string& name,
               const char* format) {
  if (w <= 0 || h <= 0) {
    Fail(ErrorCode::kInvalidImage, name, fmt::format("{} image has size {}x{}", format, w, h));
  }
  if (w > kMaxSide || h > kMaxSide || w * h > max_pixels) {
    Fail(ErrorCode::kInvalidImage, name,
         fmt::format("{} image {}x{} exceeds the decoder limit ({} px per side, {} pixels)", format,
                     w, h, kMaxSide, max_pixels));
  }
}

// ---------------------------------------------------------------------------------------------
// JPEG

struct JpegContext {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_source_mgr src;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool created;
};

JpegContext* ContextOf(j_common_ptr cinfo) { return static_cast<JpegContext*>(cinfo->client_data); }

void JpegErrorExit(j_common_ptr cinfo) {
  JpegContext* ctx = ContextOf(cinfo);
  (*cinfo->err->format_message)(cinfo, ctx->message);
  std::longjmp(ctx->jump, 1);
}

// Warnings ("Corrupt JPEG data: N extraneous bytes...") are dropped, not printed: PIL silences
// them too and keeps decoding, and many camera files carry them. One is fatal for us: the entropy
// data ending before the image does (JWRN_HIT_MARKER), i.e. a truncated scan. libjpeg would fill
// the rest with gray, so a 171-byte file declaring 8245x9472 pixels made the fuzzer spend seconds
// decoding nothing; PIL also rejects truncated files ("image file is truncated").
void JpegEmitMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0 && cinfo->err->msg_code == JWRN_HIT_MARKER) {
    JpegContext* ctx = ContextOf(cinfo);
    (*cinfo->err->format_message)(cinfo, ctx->message);
    std::longjmp(ctx->jump, 1);
  }
}

void JpegProgress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    JpegContext* ctx = ContextOf(cinfo);
    std::snprintf(ctx->message, sizeof(ctx->message), "progressive JPEG has more than %d scans",
                  kMaxJpegScans);
    std::longjmp(ctx->jump, 1);
  }
}

void JpegInitSource(j_decompress_ptr /*cinfo*/) {}
void JpegTermSource(j_decompress_ptr /*cinfo*/) {}

// The whole file is handed over at once, so a request for more means it is truncated. libjpeg's
// memory source would pad with a fake EOI and return a gray bottom; PIL refuses ("image file is
// truncated"), and so do we.
boolean JpegFillInput(j_decompress_ptr cinfo) {
  cinfo->err->msg_code = JERR_INPUT_EOF;
  (*cinfo->err->error_exit)(reinterpret_cast<j_common_ptr>(cinfo));
  return FALSE;
}

void JpegSkipInput(j_decompress_ptr cinfo, long num_bytes) {
  if (num_bytes <= 0) return;
  jpeg_source_mgr* src = cinfo->src;
  if (static_cast<unsigned long>(num_bytes) > src->bytes_in_buffer) JpegFillInput(cinfo);
  src->next_input_byte += num_bytes;
  src->bytes_in_buffer -= static_cast<size_t>(num_bytes);
}

// PIL's CMYK -> RGB (Convert.c cmyk2rgb) on Adobe-style inverted samples (PIL's "CMYK;I").
void CmykRowToRgb(const uint8_t* in, int width, uint8_t* out) {
  for (int x = 0; x < width; ++x) {
    const int nk = in[3];  // 255 - K where K = 255 - stored
    for (int c = 0; c < 3; ++c) {
      const int v = 255 - in[c];
      int t = v * nk + 128;
      t = ((t >> 8) + t) >> 8;  // PIL's MULDIV255
      const int r = nk - t;
      out[c] = static_cast<uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
    }
    in += 4;
    out += 3;
  }
}

// Runs libjpeg under setjmp. Returns false with ctx->message set when libjpeg failed. Only
// trivially destructible locals live here; `out` belongs to the caller's frame.
bool JpegDecodeProtected(JpegContext* ctx, const uint8_t* data, size_t size, int64_t max_pixels,
                         const std::string& name, Image* out) {
  if (setjmp(ctx->jump) != 0) return false;
  jpeg_decompress_struct* cinfo = &ctx->cinfo;
  jpeg_create_decompress(cinfo);
  ctx->created = true;
  ctx->src.next_input_byte = data;
  ctx->src.bytes_in_buffer = size;
  ctx->src.init_source = JpegInitSource;
  ctx->src.fill_input_buffer = JpegFillInput;
  ctx->src.skip_input_data = JpegSkipInput;
  ctx->src.resync_to_restart = jpeg_resync_to_restart;
  ctx->src.term_source = JpegTermSource;
  cinfo->src = &ctx->src;
  ctx->progress.progress_monitor = JpegProgress;
  cinfo->progress = &ctx->progress;

  jpeg_read_header(cinfo, TRUE);
  CheckDims(cinfo->image_width, cinfo->image_height, max_pixels, name, "JPEG");
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo->out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo->out_color_space = JCS_CMYK;
      break;
    default:
      cinfo->out_color_space = JCS_RGB;
      break;
  }
  // dct_method (JDCT_ISLOW) and do_fancy_upsampling (TRUE) stay at libjpeg's defaults, which is
  // what PIL uses outside draft mode.
  jpeg_start_decompress(cinfo);
  const int w = static_cast<int>(cinfo->output_width);
  const int h = static_cast<int>(cinfo->output_height);
  const int comps = cinfo->output_components;
  if (w != static_cast<int>(cinfo->image_width) || h != static_cast<int>(cinfo->image_height) ||
      (comps != 1 && comps != 3 && comps != 4)) {
    std::snprintf(ctx->message, sizeof(ctx->message), "unexpected decoder output %dx%dx%d", w, h,
                  comps);
    return false;
  }
  const size_t row_bytes = static_cast<size_t>(w) * 3;
  // Reserve without touching: rows are appended as they decode, so a tiny file that claims a huge
  // size and then ends fails before much memory is written.
  out->rgb.reserve(row_bytes * static_cast<size_t>(h));
  JSAMPARRAY scratch = nullptr;
  if (comps != 3) {
    scratch = (*cinfo->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(cinfo), JPOOL_IMAGE,
                                          static_cast<JDIMENSION>(w * comps), 1);
  }
  while (cinfo->output_scanline < cinfo->output_height) {
    const size_t offset = out->rgb.size();
    out->rgb.resize(offset + row_bytes);
    uint8_t* dst = out->rgb.data() + offset;
    JSAMPROW row = comps == 3 ? dst : scratch[0];
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
      std::snprintf(ctx->message, sizeof(ctx->message), "decoder stalled at row %u",
                    cinfo->output_scanline);
      return false;
    }
    if (comps == 1) {
      for (int x = 0; x < w; ++x) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    } else if (comps == 4) {
      CmykRowToRgb(row, w, dst);
    }
  }
  // No jpeg_finish_decompress: it would read on to the EOI marker, and a file whose scans are
  // complete but which lacks EOI still decodes in PIL. jpeg_destroy_decompress frees everything.
  out->width = w;
  out->height = h;
  return true;
}

Image DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels, const std::string& name) {
  JpegContext ctx{};
  struct Guard {
    JpegContext* c;
    ~Guard() {
      if (c->created) jpeg_destroy_decompress(&c->cinfo);
    }
  } guard{&ctx};
  ctx.cinfo.err = jpeg_std_error(&ctx.err);
  ctx.err.error_exit = JpegErrorExit;
  ctx.err.emit_message = JpegEmitMessage;
  ctx.cinfo.client_data = &ctx;  // jpeg_create_decompress keeps err and client_data
  Image img;
  if (!JpegDecodeProtected(&ctx, data, size, max_pixels, name, &img)) {
    Fail(ErrorCode::kInvalidImage, name, fmt::format("corrupt JPEG: {}", ctx.message));
  }
  return img;
}

// ---------------------------------------------------------------------------------------------
// PNG

struct PngContext {
  png_structp png;
  png_infop info;
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[256];
};

void PngError(png_structp png, png_const_charp msg) {
  auto* ctx = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(ctx->message, sizeof(ctx->message), "%s", msg);
  png_longjmp(png, 1);
}

void PngWarning(png_structp /*png*/, png_const_charp /*msg*/) {}

void PngRead(png_structp png, png_bytep out, size_t n) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  if (n > ctx->size - ctx->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, ctx->data + ctx->pos, n);
  ctx->pos += n;
}

// Runs libpng under setjmp; same rules as JpegDecodeProtected.
bool PngDecodeProtected(PngContext* ctx, int64_t max_pixels, const std::string& name, Image* out) {
  png_structp png = ctx->png;
  png_infop info = ctx->info;
  if (setjmp(png_jmpbuf(png)) != 0) return false;
  png_set_read_fn(png, ctx, PngRead);
  png_set_user_limits(png, kMaxSide, kMaxSide);
  png_set_chunk_malloc_max(png, kMaxPngChunkBytes);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0;
  png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, nullptr, nullptr, nullptr);
  CheckDims(w, h, max_pixels, name, "PNG");
  // Mirror PIL's open + convert("RGB"): palette looked up, low-bit gray scaled to 0..255, 16-bit
  // reduced to its high byte, alpha and tRNS dropped, gray replicated. No gamma correction.
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png);
  }
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t row_bytes = static_cast<size_t>(w) * 3;
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
      png_get_rowbytes(png, info) != row_bytes) {
    std::snprintf(ctx->message, sizeof(ctx->message), "unexpected layout after conversion");
    return false;
  }
  if (passes == 1) {
    // Append row by row (see JpegDecodeProtected: memory is written only as data arrives).
    out->rgb.reserve(row_bytes * h);
    for (png_uint_32 y = 0; y < h; ++y) {
      const size_t offset = out->rgb.size();
      out->rgb.resize(offset + row_bytes);
      png_read_row(png, out->rgb.data() + offset, nullptr);
    }
  } else {
    // Adam7: every pass revisits every row, so the whole image must exist up front.
    out->rgb.resize(row_bytes * h);
    for (int pass = 0; pass < passes; ++pass) {
      for (png_uint_32 y = 0; y < h; ++y)
        png_read_row(png, out->rgb.data() + y * row_bytes, nullptr);
    }
  }
  // No png_read_end: chunks after the image data (text, IEND) do not change the pixels, and PIL
  // also decodes a file that stops right after its last IDAT.
  out->width = static_cast<int>(w);
  out->height = static_cast<int>(h);
  return true;
}

Image DecodePng(const uint8_t* data, size_t size, int64_t max_pixels, const std::string& name) {
  // IHDR must be the first chunk; checking its size here refuses oversized images even when the
  // rest of the file is junk that libpng would otherwise report first.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    auto be32 = [&](size_t o) {
      return (int64_t{data[o]} << 24) | (int64_t{data[o + 1]} << 16) | (int64_t{data[o + 2]} << 8) |
             int64_t{data[o + 3]};
    };
    const int64_t w = be32(16), h = be32(20);
    if (w > 0 && h > 0) CheckDims(w, h, max_pixels, name, "PNG");
  }
  PngContext ctx{};
  ctx.data = data;
  ctx.size = size;
  ctx.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, PngError, PngWarning);
  if (ctx.png == nullptr) Fail(ErrorCode::kInternal, name, "png_create_read_struct failed");
  struct Guard {
    PngContext* c;
    ~Guard() { png_destroy_read_struct(&c->png, c->info ? &c->info : nullptr, nullptr); }
  } guard{&ctx};
  ctx.info = png_create_info_struct(ctx.png);
  if (ctx.info == nullptr) Fail(ErrorCode::kInternal, name, "png_create_info_struct failed");
  Image img;
  if (!PngDecodeProtected(&ctx, max_pixels, name, &img)) {
    Fail(ErrorCode::kInvalidImage, name, fmt::format("corrupt PNG: {}", ctx.message));
  }
  return img;
}

}  // namespace

Image DecodeMemory(const uint8_t* data, size_t size, const std::string& name_for_errors,
                   int64_t max_pixels) {
  const std::string& name = name_for_errors;
  max_pixels = std::clamp<int64_t>(max_pixels, 1, kMaxPixels);
  if (data == nullptr && size != 0) Fail(ErrorCode::kInvalidArgument, name, "null buffer");
  static constexpr uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
    return DecodeJpeg(data, size, max_pixels, name);
  }
  if (size >= sizeof(kPng) && std::memcmp(data, kPng, sizeof(kPng)) == 0) {
    return DecodePng(data, size, max_pixels, name);
  }
  if (size == 0) Fail(ErrorCode::kInvalidImage, name, "empty file");
  std::string magic;
  for (size_t i = 0; i < size && i < 4; ++i) magic += fmt::format("{:02x}", data[i]);
  Fail(ErrorCode::kInvalidImage, name,
       fmt::format("unrecognised format (starts with {}; expected JPEG or PNG)", magic));
}

Image DecodeFile(const std::string& path, int64_t max_pixels) {
  // A regular file only, opened non-blocking: a fifo would block open(), a device never end.
  const util::ReadOnlyFile file = util::OpenRegularFile(path, "image");
  const std::string name = util::EscapeControl(path, util::kMaxQuotedPath);
  if (file.size() > static_cast<uint64_t>(kMaxFileBytes)) {
    Fail(ErrorCode::kInvalidImage, name,
         fmt::format("file is {} bytes, over the limit", file.size()));
  }
  const std::string bytes = util::ReadAll(file, path, static_cast<size_t>(kMaxFileBytes), "image");
  return DecodeMemory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name,
                      max_pixels);
}

}  // namespace effi::image
