// Dataset sources for evaluation and calibration (see dataset.h): IDX (optionally gzip'd), class
// folders, flat image folders, `path label` lists and preprocessed .npy inputs.
#include "api/dataset.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "api/classifier.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/text.h"

namespace effi::api {

namespace fs = std::filesystem;

const char* const kDatasetForms =
    "an IDX images file (*-images-idx3-ubyte[.gz], labels in *-labels-idx1-ubyte[.gz] beside "
    "it), a folder with one subfolder per class, a list file of 'path label' lines, or a "
    "float32 X.npy [N,3,H,W] with X_labels.npy or labels.npy beside it";

namespace {

// Largest IDX payload accepted, compressed or not: EMNIST ByClass's training images, the largest
// IDX set published, are 698k x 28 x 28 = 547 MB, so 1 GiB admits every real file while a header
// (or a gzip bomb) cannot make effi hold more.
constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 30;
// ImageNet's val.txt is 1.4 MB (50,000 lines); 64 MiB leaves room for ~2M-line lists.
constexpr size_t kMaxListBytes = size_t{64} << 20;
// Items of a folder or list: ImageNet-21k's ~14M images fit; a bound on the names kept in memory.
constexpr size_t kMaxItems = size_t{1} << 24;
// Class indices and item counts in messages and labels stay far below int32's range.
constexpr int64_t kMaxLabel = 1'000'000;

std::string Quote(const std::string& path) {
  return util::EscapeControl(path, util::kMaxQuotedPath);
}

[[noreturn]] void Fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The image files a folder source takes (torchvision's ImageFolder also goes by extension); the
// decoder itself goes by content.
bool IsImageName(const std::string& name) {
  const std::string ext = util::LowerExtension(name);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// A decimal class index ("7", "007"), or -1.
int64_t ParseIndex(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  const int64_t v = std::stoll(s);
  return v < kMaxLabel ? v : -1;
}

// ---------------- IDX ----------------

bool IsGzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f &&
         static_cast<uint8_t>(bytes[1]) == 0x8b;
}

uint32_t BigEndian32(const std::string& b, size_t at) {
  return (uint32_t{static_cast<uint8_t>(b[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(b[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(b[at + 3])};
}

// IDX: 0, 0, type (0x08 = uint8), rank; then rank big-endian uint32 dims; then the data.
bool HasIdxMagic(const std::string& b) {
  return b.size() >= 4 && b[0] == 0 && b[1] == 0 && static_cast<uint8_t>(b[2]) == 0x08 &&
         (b[3] == 1 || b[3] == 3);
}

// Any IDX header (element types 0x08-0x0E, ranks 1-3), for detection: ReadIdx then says what of it
// is not supported.
bool LooksLikeIdx(const std::string& b) {
  const auto type = b.size() >= 4 ? static_cast<uint8_t>(b[2]) : 0;
  return b.size() >= 4 && b[0] == 0 && b[1] == 0 && type >= 0x08 && type <= 0x0E && b[3] >= 1 &&
         b[3] <= 3;
}

// Bytes the IDX file starting with `head` must have in all, once its header is complete (0 while
// it is not yet): header plus the dims' product, checked against kMaxIdxBytes without overflow.
uint64_t IdxTotalBytes(const std::string& head, const std::string& path) {
  if (head.size() < 4) return 0;
  const auto rank = static_cast<size_t>(static_cast<uint8_t>(head[3]));
  const size_t header = 4 + 4 * rank;
  if (head.size() < header) return 0;
  uint64_t total = 1;
  for (size_t d = 0; d < rank; ++d) {
    const uint32_t dim = BigEndian32(head, 4 + 4 * d);
    if (dim == 0)
      Fail(ErrorCode::kInvalidArgument, fmt::format("IDX '{}': dimension {} is 0", Quote(path), d));
    if (total > kMaxIdxBytes / dim)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("IDX '{}': its header claims over {} bytes of data (the limit)", Quote(path),
                       kMaxIdxBytes));
    total *= dim;
  }
  return header + total;
}

// Decompresses a gzip file whose content is IDX. The output is bounded by what the IDX header
// inside claims (once inflated) and by kMaxIdxBytes before that, and grows with the data actually
// inflated: a small file claiming a huge set allocates only what it really holds.
std::string InflateIdx(const std::string& gz, const std::string& path) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    Fail(ErrorCode::kInternal, "zlib: inflateInit2 failed");
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&zs};
  // avail_in/avail_out are 32-bit; kMaxIdxBytes (the bound of both buffers) fits.
  static_assert(kMaxIdxBytes + 64 < (uint64_t{1} << 32));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  const auto too_much = [&](uint64_t limit) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("IDX '{}' decompresses to more than the {} bytes its header claims",
                             Quote(path), limit));
  };
  std::string out;
  size_t produced = 0;
  uint64_t limit = kMaxIdxBytes + 64;  // until the header is known
  bool header_known = false;
  for (;;) {
    if (produced == out.size()) {
      // Room for one byte past the limit, so "more data than claimed" is seen.
      const uint64_t grown =
          std::min<uint64_t>(limit + 1, std::max<uint64_t>(uint64_t{64} << 10, 2 * out.size()));
      if (grown <= out.size()) throw too_much(limit);
      out.resize(static_cast<size_t>(grown));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(out.size() - produced);
    const uInt before = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (produced >= 4 && !HasIdxMagic(out.substr(0, 4)))
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("gzip file '{}' does not hold IDX data of unsigned bytes", Quote(path)));
    if (!header_known) {
      if (const uint64_t total =
              IdxTotalBytes(out.substr(0, std::min<size_t>(produced, 16)), path)) {
        limit = total;
        header_known = true;
      }
    }
    if (produced > limit) throw too_much(limit);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);  // a concatenated gzip member follows (gunzip reads them all)
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0)
      Fail(ErrorCode::kInvalidArgument, fmt::format("gzip file '{}' is truncated", Quote(path)));
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      Fail(ErrorCode::kInvalidArgument, fmt::format("gzip file '{}' is corrupt ({})", Quote(path),
                                                    zs.msg ? zs.msg : "zlib error"));
  }
  out.resize(produced);
  return out;
}

// An IDX file's bytes (gunzipped when gzip'd) checked against its header: `rank` dims of uint8,
// exactly as many data bytes as the dims say. Returns the bytes and the dims.
std::pair<std::string, std::vector<uint32_t>> ReadIdx(const std::string& path, int rank,
                                                      const char* what) {
  const util::ReadOnlyFile file = util::OpenRegularFile(path, what);
  std::string bytes = util::ReadAll(file, path, kMaxIdxBytes, what);
  if (IsGzip(bytes)) bytes = InflateIdx(bytes, path);
  if (!HasIdxMagic(bytes) || bytes[3] != rank) {
    if (bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0 &&
        static_cast<uint8_t>(bytes[2]) != 0x08)
      Fail(ErrorCode::kUnsupported,
           fmt::format("{} '{}': IDX element type 0x{:02x}; only unsigned bytes (0x08) are read",
                       what, Quote(path), static_cast<uint8_t>(bytes[2])));
    Fail(ErrorCode::kInvalidArgument,
         fmt::format("{} '{}' is not an IDX file of {}-d unsigned bytes", what, Quote(path), rank));
  }
  const uint64_t total = IdxTotalBytes(bytes, path);
  if (total == 0)
    Fail(ErrorCode::kInvalidArgument,
         fmt::format("{} '{}': truncated IDX header", what, Quote(path)));
  std::vector<uint32_t> dims;
  for (int d = 0; d < rank; ++d) dims.push_back(BigEndian32(bytes, 4 + 4 * static_cast<size_t>(d)));
  if (bytes.size() != total) {
    std::string claim = std::to_string(dims[0]);
    for (size_t d = 1; d < dims.size(); ++d) claim += fmt::format("x{}", dims[d]);
    Fail(ErrorCode::kInvalidArgument,
         fmt::format("{} '{}': the header claims {} ({} bytes with the header) but the data is {} "
                     "bytes",
                     what, Quote(path), claim, total, bytes.size()));
  }
  return {std::move(bytes), std::move(dims)};
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path) : path_(images_path) {
    auto [bytes, dims] = ReadIdx(images_path, 3, "IDX images");
    if (dims[1] > image::kMaxSide || dims[2] > image::kMaxSide)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("IDX images '{}': {}x{} (WxH) images, over the {} pixel side limit",
                       Quote(images_path), dims[2], dims[1], image::kMaxSide));
    pixels_ = std::move(bytes);
    count_ = dims[0];
    rows_ = static_cast<int>(dims[1]);
    cols_ = static_cast<int>(dims[2]);
    if (labels_path.empty()) return;
    auto [label_bytes, label_dims] = ReadIdx(labels_path, 1, "IDX labels");
    if (label_dims[0] != count_)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("IDX labels '{}' holds {} labels for the {} images of '{}'",
                       Quote(labels_path), label_dims[0], count_, Quote(images_path)));
    labels_.assign(label_bytes.begin() + 8, label_bytes.end());
  }
  DatasetKind kind() const override { return DatasetKind::kIdx; }
  std::string Describe() const override {
    return fmt::format("IDX '{}' ({} images {}x{}, gray{})", Quote(path_), count_, cols_, rows_,
                       labels_.empty() ? ", unlabelled" : "");
  }
  size_t size() const override { return count_; }
  bool labelled() const override { return !labels_.empty(); }
  int64_t label(size_t i) const override { return labels_.empty() ? -1 : labels_.at(i); }
  std::string name(size_t i) const override { return fmt::format("IDX '{}' image {}", path_, i); }
  image::Image Decode(size_t i) const override {
    // Gray replicated to RGB, as the Fashion-MNIST model was trained (/255 and normalisation
    // commute with the replication).
    image::Image img;
    img.width = cols_;
    img.height = rows_;
    const size_t n = static_cast<size_t>(rows_) * static_cast<size_t>(cols_);
    const auto* src = reinterpret_cast<const uint8_t*>(pixels_.data()) + 16 + i * n;
    img.rgb.resize(3 * n);
    for (size_t p = 0; p < n; ++p)
      img.rgb[3 * p] = img.rgb[3 * p + 1] = img.rgb[3 * p + 2] = src[p];
    return img;
  }

 private:
  std::string path_;
  std::string pixels_;  // the whole file, header included
  std::vector<uint8_t> labels_;
  size_t count_ = 0;
  int rows_ = 0, cols_ = 0;
};

// "t10k-images-idx3-ubyte.gz" -> the labels file beside it: same compression first, then the
// other. Empty when the name does not follow the IDX naming.
std::vector<std::string> IdxLabelCandidates(const std::string& images_path) {
  const fs::path p(images_path);
  std::string base = p.filename().string();
  if (EndsWith(base, ".gz")) base.resize(base.size() - 3);
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"images-idx3-ubyte", "labels-idx1-ubyte"},
        {"images.idx3-ubyte", "labels.idx1-ubyte"}}) {
    const size_t at = base.rfind(from);
    if (at == std::string::npos) continue;
    const std::string labels = base.substr(0, at) + to + base.substr(at + from.size());
    const fs::path dir = p.parent_path();
    const bool gz = EndsWith(p.filename().string(), ".gz");
    return {(dir / (labels + (gz ? ".gz" : ""))).string(),
            (dir / (labels + (gz ? "" : ".gz"))).string()};
  }
  return {};
}

std::unique_ptr<Dataset> OpenIdx(const std::string& path, const DatasetOptions& options) {
  const std::vector<std::string> candidates = IdxLabelCandidates(path);
  std::string labels;
  for (const std::string& c : candidates) {
    std::error_code ec;
    if (fs::exists(c, ec)) {
      labels = c;
      break;
    }
  }
  if (labels.empty() && options.require_labels) {
    if (candidates.empty())
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("IDX images '{}': cannot find its labels (the name should contain "
                       "'images-idx3-ubyte', the labels' 'labels-idx1-ubyte')",
                       Quote(path)));
    Fail(ErrorCode::kIo, fmt::format("IDX images '{}': labels file '{}' not found", Quote(path),
                                     Quote(candidates[0])));
  }
  return std::make_unique<IdxDataset>(path, labels);
}

// ---------------- image files (folders, lists) ----------------

struct FileItem {
  std::string path;
  int64_t label = -1;
};

class FilesDataset : public Dataset {
 public:
  FilesDataset(DatasetKind kind, std::string description, std::vector<FileItem> items)
      : kind_(kind), description_(std::move(description)), items_(std::move(items)) {}
  DatasetKind kind() const override { return kind_; }
  std::string Describe() const override { return description_; }
  size_t size() const override { return items_.size(); }
  bool labelled() const override { return kind_ != DatasetKind::kImageFolder; }
  int64_t label(size_t i) const override { return items_.at(i).label; }
  std::string name(size_t i) const override { return items_.at(i).path; }
  image::Image Decode(size_t i) const override {
    util::CheckReadableFile(items_.at(i).path, "image");
    return image::DecodeFile(items_[i].path);
  }

 private:
  DatasetKind kind_;
  std::string description_;
  std::vector<FileItem> items_;
};

// Sorted entries of a folder (hidden ones skipped), at most kMaxItems.
std::vector<fs::directory_entry> ListFolder(const std::string& dir) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec)
    Fail(ErrorCode::kIo, fmt::format("folder '{}': cannot list ({})", Quote(dir), ec.message()));
  for (fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec)
      Fail(ErrorCode::kIo, fmt::format("folder '{}': cannot list ({})", Quote(dir), ec.message()));
    if (it->path().filename().string().rfind('.', 0) == 0) continue;
    if (entries.size() == kMaxItems)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("folder '{}' holds over {} entries", Quote(dir), kMaxItems));
    entries.push_back(*it);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return entries;
}

std::unique_ptr<Dataset> OpenFolder(const std::string& dir, const DatasetOptions& options) {
  std::vector<std::string> class_dirs, images;
  for (const fs::directory_entry& e : ListFolder(dir)) {
    std::error_code ec;
    if (e.is_directory(ec)) {
      class_dirs.push_back(e.path().string());
    } else if (IsImageName(e.path().string()) && e.is_regular_file(ec)) {
      images.push_back(e.path().string());
    }
  }
  if (!class_dirs.empty() && !images.empty())
    Fail(ErrorCode::kInvalidArgument,
         fmt::format("folder '{}' holds both images and subfolders: give one subfolder per class "
                     "(labelled) or only images (unlabelled)",
                     Quote(dir)));
  if (class_dirs.empty()) {
    if (images.empty())
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("folder '{}' holds no images (.jpg, .jpeg, .png) and no class subfolders",
                       Quote(dir)));
    if (options.require_labels)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("folder '{}' holds images but no class subfolders, so no labels; give {}",
                       Quote(dir), kDatasetForms));
    std::vector<FileItem> items;
    for (std::string& p : images) items.push_back({std::move(p), -1});
    const std::string desc =
        fmt::format("folder '{}' ({} images, unlabelled)", Quote(dir), items.size());
    return std::make_unique<FilesDataset>(DatasetKind::kImageFolder, desc, std::move(items));
  }
  // Class folders: a folder named exactly as one of the model's labels is that class (labels such
  // as "T-shirt/top" cannot be folder names and need the index form), else a decimal index.
  std::map<std::string, int64_t> by_name;
  for (size_t i = 0; i < options.class_names.size(); ++i)
    by_name.emplace(options.class_names[i], static_cast<int64_t>(i));
  std::vector<FileItem> items;
  for (const std::string& sub : class_dirs) {
    const std::string folder = fs::path(sub).filename().string();
    int64_t label = -1;
    if (auto it = by_name.find(folder); it != by_name.end()) label = it->second;
    if (label < 0) label = ParseIndex(folder);
    if (label < 0)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("class folder '{}' is neither one of the model's {} labels nor a class "
                       "index",
                       Quote(sub), options.class_names.size()));
    for (const fs::directory_entry& e : ListFolder(sub)) {
      std::error_code ec;
      if (!IsImageName(e.path().string()) || !e.is_regular_file(ec)) continue;
      if (items.size() == kMaxItems)
        Fail(ErrorCode::kInvalidArgument,
             fmt::format("folder '{}' holds over {} images", Quote(dir), kMaxItems));
      items.push_back({e.path().string(), label});
    }
  }
  if (items.empty())
    Fail(ErrorCode::kInvalidArgument,
         fmt::format("folder '{}': its {} class subfolders hold no images (.jpg, .jpeg, .png)",
                     Quote(dir), class_dirs.size()));
  const std::string desc = fmt::format("folder '{}' ({} images in {} class folders)", Quote(dir),
                                       items.size(), class_dirs.size());
  return std::make_unique<FilesDataset>(DatasetKind::kClassFolders, desc, std::move(items));
}

// One `path label` line: the label is the last whitespace-separated word (so paths may hold
// spaces), a decimal index. False when the line has no such shape.
bool ParseListLine(const std::string& line, std::string* path, int64_t* label) {
  const size_t end = line.find_last_not_of(" \t\r");
  if (end == std::string::npos) return false;
  const size_t space = line.find_last_of(" \t", end);
  if (space == std::string::npos) return false;
  *label = ParseIndex(line.substr(space + 1, end - space));
  const size_t path_end = line.find_last_not_of(" \t", space);
  const size_t path_begin = line.find_first_not_of(" \t");
  if (*label < 0 || path_end == std::string::npos) return false;
  *path = line.substr(path_begin, path_end - path_begin + 1);
  return true;
}

bool IsBlank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

// True when `text` looks like a list: no NUL byte and its first non-blank line is `path label`.
bool LooksLikeList(const std::string& text) {
  if (text.find('\0') != std::string::npos) return false;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (IsBlank(line)) continue;
    std::string path;
    int64_t label = 0;
    return ParseListLine(line, &path, &label);
  }
  return false;
}

std::unique_ptr<Dataset> OpenList(const std::string& list, const std::string& text) {
  const fs::path dir = fs::path(list).parent_path();
  std::vector<FileItem> items;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (IsBlank(line)) continue;
    FileItem item;
    std::string path;
    if (!ParseListLine(line, &path, &item.label))
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("list '{}' line {}: expected 'path label' (label a class index), got '{}'",
                       Quote(list), line_no, util::EscapeControl(line, 80)));
    item.path = fs::path(path).is_absolute() ? path : (dir / path).string();
    try {
      util::CheckRegularFile(item.path, "image");
    } catch (const Error& e) {
      Fail(e.code(), fmt::format("list '{}' line {}: {}", Quote(list), line_no, e.what()));
    }
    items.push_back(std::move(item));
  }
  if (items.empty())
    Fail(ErrorCode::kInvalidArgument, fmt::format("list '{}' names no images", Quote(list)));
  const std::string desc = fmt::format("list '{}' ({} images)", Quote(list), items.size());
  return std::make_unique<FilesDataset>(DatasetKind::kList, desc, std::move(items));
}

// ---------------- preprocessed .npy ----------------

class NpyDataset : public Dataset {
 public:
  NpyDataset(const std::string& path, const DatasetOptions& options) : path_(path) {
    inputs_ = npy::Load(path);
    const std::vector<int64_t>& s = inputs_.shape;
    if (inputs_.dtype != "float32" || s.size() != 4 || s[0] < 1 || s[1] != 3 || s[2] < 1 ||
        s[3] < 1)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("inputs '{}' are {} {}; expected preprocessed float32 [N,3,H,W]",
                       Quote(path), inputs_.dtype, api::ShapeString(s)));
    // X.npy -> X_labels.npy, else labels.npy in the same folder.
    const fs::path p(path);
    const std::string named = (p.parent_path() / (p.stem().string() + "_labels.npy")).string();
    const std::string plain = (p.parent_path() / "labels.npy").string();
    std::error_code ec;
    const std::string labels_path = fs::exists(named, ec)   ? named
                                    : fs::exists(plain, ec) ? plain
                                                            : "";
    if (labels_path.empty()) {
      if (options.require_labels)
        Fail(ErrorCode::kIo,
             fmt::format("inputs '{}': no labels beside them (looked for '{}' and '{}')",
                         Quote(path), Quote(named), Quote(plain)));
      return;
    }
    const npy::Array labels = npy::Load(labels_path);
    if ((labels.dtype != "int64" && labels.dtype != "int32") || labels.shape.size() != 1 ||
        labels.shape[0] != s[0])
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("labels '{}' are {} {}; expected int64 or int32 [{}] (one per input)",
                       Quote(labels_path), labels.dtype, api::ShapeString(labels.shape), s[0]));
    for (size_t i = 0; i < static_cast<size_t>(s[0]); ++i) {
      int64_t v = 0;
      if (labels.dtype == "int64") {
        std::memcpy(&v, labels.bytes.data() + 8 * i, 8);
      } else {
        int32_t v32 = 0;
        std::memcpy(&v32, labels.bytes.data() + 4 * i, 4);
        v = v32;
      }
      if (v < 0 || v >= kMaxLabel)
        Fail(ErrorCode::kInvalidArgument,
             fmt::format("labels '{}': label {} of item {} is not a class index",
                         Quote(labels_path), v, i));
      labels_.push_back(v);
    }
  }
  DatasetKind kind() const override { return DatasetKind::kNpy; }
  std::string Describe() const override {
    return fmt::format("inputs '{}' ({} preprocessed {}x{}{})", Quote(path_), size(),
                       inputs_.shape[3], inputs_.shape[2], labels_.empty() ? ", unlabelled" : "");
  }
  size_t size() const override { return static_cast<size_t>(inputs_.shape[0]); }
  bool labelled() const override { return !labels_.empty(); }
  int64_t label(size_t i) const override { return labels_.empty() ? -1 : labels_.at(i); }
  std::string name(size_t i) const override { return fmt::format("'{}' item {}", path_, i); }
  bool preprocessed() const override { return true; }
  image::Image Decode(size_t) const override {
    Fail(ErrorCode::kUnsupported,
         fmt::format("inputs '{}' are preprocessed tensors, not images", Quote(path_)));
  }
  std::vector<float> Load(size_t i, const image::PreprocessConfig& config) const override {
    if (inputs_.shape[2] != config.input_h || inputs_.shape[3] != config.input_w)
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("inputs '{}' are {}x{} (WxH) but the model takes {}x{}", Quote(path_),
                       inputs_.shape[3], inputs_.shape[2], config.input_w, config.input_h));
    const size_t n = static_cast<size_t>(3 * inputs_.shape[2] * inputs_.shape[3]);
    const float* src = reinterpret_cast<const float*>(inputs_.bytes.data()) + i * n;
    return std::vector<float>(src, src + n);
  }

 private:
  std::string path_;
  npy::Array inputs_;
  std::vector<int64_t> labels_;
};

// The first bytes of a regular file, for detection.
std::string Sniff(const std::string& path) {
  const util::ReadOnlyFile file = util::OpenRegularFile(path, "dataset");
  std::string head(std::min<uint64_t>(file.size(), 64), '\0');
  if (!util::ReadAt(file.fd(), head.data(), head.size(), 0))
    Fail(ErrorCode::kIo, fmt::format("dataset '{}': read error", Quote(path)));
  return head;
}

}  // namespace

int64_t Dataset::LabelBound() const {
  int64_t bound = 0;
  for (size_t i = 0; labelled() && i < size(); ++i) bound = std::max(bound, label(i) + 1);
  return bound;
}

std::vector<float> Dataset::Load(size_t i, const image::PreprocessConfig& config) const {
  std::vector<float> x = image::Preprocess(Decode(i), config);
  const size_t want =
      size_t{3} * static_cast<size_t>(config.input_h) * static_cast<size_t>(config.input_w);
  if (x.size() != want)
    Fail(ErrorCode::kInternal, fmt::format("preprocessing {} gave {} values, expected {}",
                                           Quote(name(i)), x.size(), want));
  return x;
}

std::unique_ptr<Dataset> OpenDataset(const std::string& src, const DatasetOptions& options) {
  std::error_code ec;
  const fs::file_status st = fs::status(src, ec);
  if (ec || !fs::exists(st))
    Fail(ErrorCode::kIo, fmt::format("dataset '{}': no such file or folder", Quote(src)));
  if (fs::is_directory(st)) return OpenFolder(src, options);
  const std::string head = Sniff(src);
  if (util::LowerExtension(src) == ".npy") return std::make_unique<NpyDataset>(src, options);
  // gzip is only accepted around IDX (ReadIdx says so when it holds something else).
  if (IsGzip(head)) return OpenIdx(src, options);
  if (LooksLikeIdx(head)) {
    if (head[3] != 1) return OpenIdx(src, options);
    Fail(ErrorCode::kInvalidArgument,
         fmt::format("dataset '{}' is an IDX labels file; give the images file beside it",
                     Quote(src)));
  }
  if (head.find('\0') == std::string::npos) {
    const std::string text = util::ReadRegularFile(src, kMaxListBytes, "list");
    if (LooksLikeList(text)) return OpenList(src, text);
  }
  Fail(ErrorCode::kInvalidArgument,
       fmt::format("dataset '{}' is not a known form; give {}", Quote(src), kDatasetForms));
}

}  // namespace effi::api
