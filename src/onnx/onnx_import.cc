// ONNX protobuf import. Validates everything it reads (dims, byte counts, external-data ranges)
// before allocating, so hostile files fail with one error line instead of a crash.
#include "onnx/onnx_import.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <vector>

#include "onnx.pb.h"
#include "onnx/convert.h"
#include "util/file.h"
#include "util/text.h"

namespace effi::onnx_io {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void Bad(const std::string& msg) { throw Error(ErrorCode::kInvalidModel, msg); }

DType FromOnnxType(int t, const std::string& what) {
  switch (t) {
    case onnx::TensorProto::FLOAT:
      return DType::kF32;
    case onnx::TensorProto::INT64:
      return DType::kI64;
    case onnx::TensorProto::INT32:
      return DType::kI32;
    case onnx::TensorProto::INT8:
      return DType::kI8;
    case onnx::TensorProto::UINT8:
      return DType::kU8;
    case onnx::TensorProto::BOOL:
      return DType::kBool;
    case onnx::TensorProto::DOUBLE:
      return DType::kF32;  // converted on load (rare: some exports)
    default:
      throw Error(
          ErrorCode::kUnsupported,
          fmt::format("{}: element type {} ({}) is not supported", what,
                      onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t)),
                      t));
  }
}

// A model-controlled string (tensor name, location...) as quoted in messages: control bytes
// escaped (a NUL would end the message early, an ESC or newline would reach the terminal) and
// the length bounded.
std::string Q(std::string_view s) { return util::EscapeControl(s, util::kMaxQuoted); }

// True when `p` lies strictly below `dir` (both canonical: absolute, no symlinks, no "..").
bool IsInside(const fs::path& dir, const fs::path& p) {
  auto e = p.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++e)
    if (e == p.end() || *d != *e) return false;
  return e != p.end();
}

// Reads [offset, offset+length) of an external data file inside base_dir. The location is
// untrusted: it must stay inside the model's folder after symlinks are resolved (a symlink in the
// folder may point at /etc/passwd), and it must be a regular file (a fifo would block the read, a
// device would never end).
std::string ReadExternal(const ImportContext& ctx, const onnx::TensorProto& t,
                         size_t expect_bytes) {
  const std::string name = Q(t.name());
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoll(kv.value());
      else if (kv.key() == "length")
        length = std::stoll(kv.value());
    } catch (const std::exception&) {
      Bad(fmt::format("initializer '{}': bad external_data entry '{}'", name, Q(kv.key())));
    }
  }
  if (ctx.base_dir.empty())
    Bad(fmt::format("initializer '{}' uses external data, which needs a model file path", name));
  if (location.empty()) Bad(fmt::format("initializer '{}': external data without location", name));
  const std::string loc = Q(location);
  // The OS would silently stop the name at a NUL and open another file.
  if (location.find('\0') != std::string::npos)
    Bad(fmt::format("initializer '{}': external data location '{}' contains a NUL byte", name,
                    loc));
  fs::path rel(location);
  if (rel.is_absolute())
    Bad(fmt::format("initializer '{}': external data location '{}' must be relative", name, loc));
  for (const auto& part : rel)
    if (part == "..")
      Bad(fmt::format("initializer '{}': external data location '{}' escapes the model folder",
                      name, loc));
  auto io_error = [&](const std::string& why) {
    return Error(ErrorCode::kIo, fmt::format("initializer '{}': cannot open external data file "
                                             "'{}' ({})",
                                             name, loc, why));
  };
  std::error_code ec;
  const fs::path real_dir = fs::canonical(ctx.base_dir, ec);
  if (ec) throw io_error("model folder: " + ec.message());
  const fs::path real = fs::canonical(fs::path(ctx.base_dir) / rel, ec);
  if (ec) throw io_error(ec.message());
  if (!IsInside(real_dir, real))
    Bad(
        fmt::format("initializer '{}': external data location '{}' resolves outside the model "
                    "folder (through a symlink)",
                    name, loc));
  struct stat checked {};
  if (::stat(real.c_str(), &checked) != 0) throw io_error(std::generic_category().message(errno));
  if (!S_ISREG(checked.st_mode))
    Bad(fmt::format("initializer '{}': external data '{}' is not a regular file ({})", name, loc,
                    util::FileKind(checked.st_mode)));
  // Open what was checked: O_NOFOLLOW for the last component, then the descriptor must be the
  // same inode, so a file swapped in after the checks is refused rather than read.
  const int fd = ::open(real.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw io_error(std::generic_category().message(errno));
  struct stat st {};
  const bool same = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == checked.st_dev &&
                    st.st_ino == checked.st_ino;
  const util::ReadOnlyFile file(fd, st);
  if (!same)
    Bad(fmt::format("initializer '{}': external data file '{}' changed while being opened", name,
                    loc));
  const uint64_t fsize = file.size();
  if (length < 0) length = static_cast<int64_t>(expect_bytes);
  if (offset < 0 || static_cast<uint64_t>(length) != expect_bytes ||
      static_cast<uint64_t>(offset) > fsize ||
      static_cast<uint64_t>(length) > fsize - static_cast<uint64_t>(offset))
    Bad(
        fmt::format("initializer '{}': external data range (offset {}, length {}) does not fit "
                    "file '{}' ({} bytes, need {})",
                    name, offset, length, loc, fsize, expect_bytes));
  std::string bytes(expect_bytes, '\0');
  if (!util::ReadAt(file.fd(), bytes.data(), expect_bytes, static_cast<uint64_t>(offset)))
    throw Error(ErrorCode::kIo, fmt::format("initializer '{}': short read from '{}'", name, loc));
  return bytes;
}

template <typename Src, typename Dst>
void CopyConvert(const Src* src, Dst* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src[i]);
}

// Copies `raw` to dst: pread from the model file when raw lies in its mapping, else memcpy.
void CopyRaw(const ImportContext& ctx, std::string_view raw, void* dst) {
  if (ctx.fd >= 0 && raw.data() >= ctx.file_base &&
      raw.data() + raw.size() <= ctx.file_base + ctx.file_size) {
    auto* out = static_cast<char*>(dst);
    size_t done = 0;
    while (done < raw.size()) {
      const ssize_t r = ::pread(ctx.fd, out + done, raw.size() - done,
                                static_cast<off_t>(raw.data() - ctx.file_base + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      done += static_cast<size_t>(r);
    }
    if (done == raw.size()) return;
    // A short read (file changed under us): fall back to the mapping.
    std::memcpy(out + done, raw.data() + done, raw.size() - done);
    return;
  }
  std::memcpy(dst, raw.data(), raw.size());
}

}  // namespace

ConstTensor ConvertTensor(const ImportContext& ctx, const onnx::TensorProto& t,
                          const std::string& what, const std::string_view* raw_data) {
  DType dt = FromOnnxType(t.data_type(), what);
  Shape shape(t.dims().begin(), t.dims().end());
  int64_t n = NumElements(shape, what.c_str());
  const bool is_double = t.data_type() == onnx::TensorProto::DOUBLE;
  const size_t src_elem = is_double ? 8 : DTypeSize(dt);
  const size_t nbytes = static_cast<size_t>(n) * src_elem;

  std::string external;
  std::string_view raw_view;
  const std::string_view* raw = nullptr;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    external = ReadExternal(ctx, t, nbytes);
    raw_view = external;
    raw = &raw_view;
  } else if (raw_data) {
    raw = raw_data;
  } else if (t.has_raw_data()) {
    raw_view = t.raw_data();
    raw = &raw_view;
  }
  // Validate the byte/value count before allocating: a hostile header cannot make us allocate
  // more than the file actually carries.
  if (raw && raw->size() != nbytes)
    Bad(fmt::format("{}: raw data has {} bytes, shape {} of {} needs {}", what, raw->size(),
                    ShapeStr(shape), DTypeName(dt), nbytes));
  if (!raw) {
    int64_t have = 0;
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT:
        have = t.float_data_size();
        break;
      case onnx::TensorProto::DOUBLE:
        have = t.double_data_size();
        break;
      case onnx::TensorProto::INT64:
        have = t.int64_data_size();
        break;
      default:
        have = t.int32_data_size();
        break;
    }
    if (have != n)
      Bad(fmt::format("{}: has {} values, shape {} needs {}", what, have, ShapeStr(shape), n));
  }
  auto out = MakeUninitializedTensor(dt, shape);
  if (raw) {
    if (is_double) {
      std::vector<double> tmp(static_cast<size_t>(n));
      std::memcpy(tmp.data(), raw->data(), nbytes);
      CopyConvert(tmp.data(), out->mutable_as<float>(), n);
    } else if (nbytes) {
      CopyRaw(ctx, *raw, out->mutable_data());
    }
    return out;
  }
  // Typed fields: their counts were validated above.
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      CopyConvert(t.float_data().data(), out->mutable_as<float>(), n);
      break;
    case onnx::TensorProto::DOUBLE:
      CopyConvert(t.double_data().data(), out->mutable_as<float>(), n);
      break;
    case onnx::TensorProto::INT64:
      CopyConvert(t.int64_data().data(), out->mutable_as<int64_t>(), n);
      break;
    case onnx::TensorProto::INT32:
      CopyConvert(t.int32_data().data(), out->mutable_as<int32_t>(), n);
      break;
    case onnx::TensorProto::INT8:
      CopyConvert(t.int32_data().data(), out->mutable_as<int8_t>(), n);
      break;
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:
      CopyConvert(t.int32_data().data(), out->mutable_as<uint8_t>(), n);
      break;
    default:
      break;
  }
  return out;
}

namespace {

AttrValue ConvertAttr(const ImportContext& ctx, const onnx::AttributeProto& a,
                      const std::string& where) {
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      return a.i();
    case onnx::AttributeProto::FLOAT:
      return a.f();
    case onnx::AttributeProto::STRING:
      return a.s();
    case onnx::AttributeProto::INTS:
      return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::FLOATS:
      return std::vector<float>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::STRINGS:
      return std::vector<std::string>(a.strings().begin(), a.strings().end());
    case onnx::AttributeProto::TENSOR:
      return ConvertTensor(ctx, a.t(), fmt::format("{} attribute '{}'", where, Q(a.name())));
    default:
      // Old exporters leave type unset; infer from the populated field.
      if (a.type() == onnx::AttributeProto::UNDEFINED) {
        if (a.ints_size()) return std::vector<int64_t>(a.ints().begin(), a.ints().end());
        if (a.floats_size()) return std::vector<float>(a.floats().begin(), a.floats().end());
        if (a.has_t()) return ConvertTensor(ctx, a.t(), where);
        if (a.has_s()) return a.s();
        if (a.has_f()) return a.f();
        if (a.has_i()) return a.i();
      }
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("{}: attribute '{}' has unsupported type {}", where, Q(a.name()),
                              static_cast<int>(a.type())));
  }
}

void ReadValueInfo(const onnx::ValueInfoProto& vi, Value& v) {
  if (!vi.type().has_tensor_type())
    throw Error(ErrorCode::kUnsupported,
                fmt::format("graph input/output '{}' is not a tensor", Q(vi.name())));
  const auto& tt = vi.type().tensor_type();
  if (tt.elem_type() != 0)
    v.dtype = FromOnnxType(tt.elem_type(), fmt::format("graph input/output '{}'", Q(vi.name())));
  if (tt.has_shape()) {
    v.shape.clear();
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0 || d.dim_value() > kMaxTensorElements)
          Bad(fmt::format("graph input/output '{}' has invalid dimension {}", Q(vi.name()),
                          d.dim_value()));
        v.shape.push_back(d.dim_value());
      } else {
        v.shape.push_back(-1);
      }
    }
    v.has_shape = true;
  }
}

// An initializer as split out of the wire bytes: the message without raw_data, and raw_data's bytes
// where they lie in the model buffer.
struct Initializer {
  onnx::TensorProto proto;
  bool has_raw = false;
  std::string_view raw;
};

Graph Convert(const onnx::ModelProto& m, const std::vector<Initializer>& inits,
              const ImportContext& ctx) {
  Graph g;
  for (const auto& op : m.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") g.opset = op.version();
  }
  if (g.opset == 0) g.opset = m.opset_import_size() == 0 ? 1 : g.opset;
  if (g.opset < 7 && m.opset_import_size() > 0)
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: default-domain opset {} is too old (need 7..21)", ctx.model_name,
                            g.opset));
  if (g.opset > 21)
    throw Error(ErrorCode::kUnsupported, fmt::format("{}: opset {} is newer than supported (7..21)",
                                                     ctx.model_name, g.opset));
  for (const auto& p : m.metadata_props()) g.metadata[p.key()] = p.value();
  if (!m.has_graph()) Bad(fmt::format("{}: no graph in model", ctx.model_name));
  const onnx::GraphProto& gp = m.graph();

  auto value_of = [&](const std::string& name) {
    int id = g.FindValue(name);
    return id >= 0 ? id : g.AddValue(name);
  };

  for (const Initializer& in : inits) {
    const onnx::TensorProto& init = in.proto;
    if (init.name().empty()) Bad(fmt::format("{}: initializer without a name", ctx.model_name));
    if (g.FindValue(init.name()) >= 0)
      Bad(fmt::format("{}: initializer '{}' defined twice", ctx.model_name, Q(init.name())));
    int id = g.AddConstant(init.name(),
                           ConvertTensor(ctx, init, fmt::format("initializer '{}'", Q(init.name())),
                                         in.has_raw ? &in.raw : nullptr));
    g.initializer_elements += g.values[id].constant->elements();
  }
  for (const auto& vi : gp.input()) {
    int existing = g.FindValue(vi.name());
    if (existing >= 0 && g.values[existing].is_constant())
      continue;  // initializer listed as input (IR < 4)
    if (existing >= 0)
      Bad(fmt::format("{}: graph input '{}' listed twice", ctx.model_name, Q(vi.name())));
    int id = g.AddValue(vi.name());
    ReadValueInfo(vi, g.values[id]);
    if (g.values[id].dtype == DType::kUndefined)
      Bad(fmt::format("{}: graph input '{}' has no element type", ctx.model_name, Q(vi.name())));
    g.inputs.push_back(id);
  }
  int node_index = 0;
  for (const auto& np : gp.node()) {
    Node n;
    n.name = np.name().empty() ? fmt::format("{}_{}", np.op_type(), node_index) : np.name();
    ++node_index;
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.op = np.op_type();
    g.file_op_histogram[(n.domain.empty() ? "" : n.domain + ".") + n.op]++;
    const std::string where = Q(n.Describe());
    for (const auto& a : np.attribute()) {
      if (a.name().empty()) Bad(fmt::format("{}: attribute without a name", where));
      n.attrs[a.name()] = ConvertAttr(ctx, a, where);
    }
    if (n.domain.empty() && n.op == "Constant") {
      // Constants become constant values right away (one fewer op for every later layer).
      if (np.output_size() != 1) Bad(fmt::format("{}: Constant must have one output", where));
      ConstTensor t;
      if (n.Has("value"))
        t = n.GetTensor("value");
      else if (n.Has("value_float"))
        t = MakeFloatTensor({n.GetFloat("value_float", 0)}, {});
      else if (n.Has("value_floats")) {
        auto v = n.GetFloats("value_floats", {});
        t = MakeFloatTensor(v, {static_cast<int64_t>(v.size())});
      } else if (n.Has("value_int"))
        t = MakeInt64Tensor({n.GetInt("value_int", 0)}, {});
      else if (n.Has("value_ints")) {
        auto v = n.GetInts("value_ints", {});
        t = MakeInt64Tensor(v, {static_cast<int64_t>(v.size())});
      } else
        throw Error(
            ErrorCode::kUnsupported,
            fmt::format("{}: only value/value_float(s)/value_int(s) Constants are supported",
                        where));
      const std::string& out = np.output(0);
      if (g.FindValue(out) >= 0)
        Bad(fmt::format("{}: output '{}' is produced more than once", where, Q(out)));
      g.AddConstant(out, t);
      continue;
    }
    for (const auto& in : np.input()) n.inputs.push_back(in.empty() ? -1 : value_of(in));
    for (const auto& out : np.output()) {
      if (out.empty()) {
        n.outputs.push_back(-1);
        continue;
      }
      int existing = g.FindValue(out);
      if (existing >= 0 &&
          (g.values[existing].is_constant() ||
           std::find(g.inputs.begin(), g.inputs.end(), existing) != g.inputs.end()))
        Bad(fmt::format("{}: output '{}' overwrites a graph input or initializer", where, Q(out)));
      n.outputs.push_back(value_of(out));
    }
    g.AddNode(std::move(n));
  }
  for (const auto& vi : gp.output()) {
    int id = g.FindValue(vi.name());
    if (id < 0)
      Bad(fmt::format("{}: graph output '{}' is never produced", ctx.model_name, Q(vi.name())));
    Value declared;
    ReadValueInfo(vi, declared);
    g.outputs.push_back(id);
  }
  if (g.outputs.empty()) Bad(fmt::format("{}: graph has no outputs", ctx.model_name));
  g.TopoSort();
  return g;
}

}  // namespace

namespace {

using google::protobuf::internal::WireFormatLite;

// Splits the fields of one serialized message: the payloads of length-delimited field `special`
// (in order) and everything else as runs of whole fields. False on malformed wire data.
bool SplitFields(std::string_view msg, uint32_t special, std::vector<std::string_view>& special_out,
                 std::vector<std::string_view>& rest) {
  const auto* p = reinterpret_cast<const uint8_t*>(msg.data());
  const int n = static_cast<int>(msg.size());
  google::protobuf::io::CodedInputStream in(p, n);
  while (in.CurrentPosition() < n) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return false;
    if (WireFormatLite::GetTagFieldNumber(tag) == static_cast<int>(special) &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t len = 0;
      if (!in.ReadVarint32(&len)) return false;
      const int pos = in.CurrentPosition();
      if (len > static_cast<uint32_t>(n - pos)) return false;
      special_out.push_back(msg.substr(static_cast<size_t>(pos), len));
      if (!in.Skip(static_cast<int>(len))) return false;
    } else {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      const int end = in.CurrentPosition();
      if (!rest.empty() && rest.back().data() + rest.back().size() == msg.data() + start)
        rest.back() = std::string_view(rest.back().data(),
                                       rest.back().size() + static_cast<size_t>(end - start));
      else
        rest.push_back(msg.substr(static_cast<size_t>(start), static_cast<size_t>(end - start)));
    }
  }
  return true;
}

// Protobuf merges repeated occurrences of a message, so parsing the runs one after another equals
// parsing the whole message.
bool MergeRuns(google::protobuf::MessageLite& m, const std::vector<std::string_view>& runs,
               int recursion_limit) {
  for (std::string_view r : runs) {
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(r.data()),
                                              static_cast<int>(r.size()));
    in.SetRecursionLimit(recursion_limit);
    if (!m.MergeFromCodedStream(&in) || !in.ConsumedEntireMessage()) return false;
  }
  return true;
}

Graph ImportBuffer(const void* data, size_t size, const ImportContext& ctx) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw Error(ErrorCode::kInvalidModel,
                fmt::format("{}: larger than 2 GiB; use external data", ctx.model_name));
  auto fail = [&] {
    throw Error(ErrorCode::kInvalidModel,
                fmt::format("{}: not a valid ONNX model (protobuf parse failed)", ctx.model_name));
  };
  // Parsed field by field so initializers' raw_data (nearly all of the file) is never copied into
  // the message: each is copied once, straight from the buffer into its tensor.
  // ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.raw_data = 9.
  const std::string_view bytes(static_cast<const char*>(data), size);
  std::vector<std::string_view> graphs, model_rest;
  if (!SplitFields(bytes, 7, graphs, model_rest)) fail();
  onnx::ModelProto m;
  if (!MergeRuns(m, model_rest, 64)) fail();
  std::vector<Initializer> inits;
  for (std::string_view gbytes : graphs) {
    std::vector<std::string_view> init_bytes, graph_rest;
    if (!SplitFields(gbytes, 5, init_bytes, graph_rest)) fail();
    if (!MergeRuns(*m.mutable_graph(), graph_rest, 63)) fail();
    for (std::string_view tb : init_bytes) {
      std::vector<std::string_view> raws, tensor_rest;
      if (!SplitFields(tb, 9, raws, tensor_rest)) fail();
      Initializer& init = inits.emplace_back();
      if (!MergeRuns(init.proto, tensor_rest, 62)) fail();
      if (!raws.empty()) {
        init.has_raw = true;
        init.raw = raws.back();  // a repeated singular field: the last one wins
      }
    }
  }
  return Convert(m, inits, ctx);
}

}  // namespace

Graph ImportMemory(const void* data, size_t size, const std::string& name_for_errors,
                   const std::string& base_dir) {
  return ImportBuffer(
      data, size,
      ImportContext{util::EscapeControl(name_for_errors, util::kMaxQuotedPath), base_dir});
}

Graph ImportFile(const std::string& path) {
  // Opened non-blocking and checked to be a regular file: a fifo would block open() forever, a
  // device cannot be mapped.
  util::ReadOnlyFile file = util::OpenRegularFile(path, "model file");
  const std::string name = util::EscapeControl(path, util::kMaxQuotedPath);
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir.assign(1, '.');
  // Map the file instead of reading it: no zero-fill and no copy of the 49 MB before parsing.
  const size_t size = static_cast<size_t>(file.size());
  if (size == 0) throw Error(ErrorCode::kInvalidModel, fmt::format("{}: empty file", name));
  const int fd = file.fd();
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED)
    throw Error(ErrorCode::kIo, fmt::format("cannot map model file '{}'", name));
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{map, size};
  ImportContext ctx{name, dir};
  ctx.fd = fd;
  ctx.file_base = static_cast<const char*>(map);
  ctx.file_size = size;
  return ImportBuffer(map, size, ctx);
}

}  // namespace effi::onnx_io
