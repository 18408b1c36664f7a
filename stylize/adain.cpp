#include "stylize/adain.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <set>

#include "lib/checkpoint.h"
#include "lib/error.h"
#include "lib/sha256.h"

namespace bagnet::stylize {
namespace {

struct ConvSpec {
  int index, out, in, kernel;
};

// naoto0804/pytorch-AdaIN net.py: the positions of the convolutions in the two Sequentials.
// Encoder: vgg[:31] (relu4_1); max pooling follows the ReLUs of convolutions 5, 12 and 25.
const std::vector<ConvSpec> kEncoder = {
    {0, 3, 3, 1},      {2, 64, 3, 3},     {5, 64, 64, 3},    {9, 128, 64, 3},   {12, 128, 128, 3},
    {16, 256, 128, 3}, {19, 256, 256, 3}, {22, 256, 256, 3}, {25, 256, 256, 3}, {29, 512, 256, 3}};
const std::set<int> kPoolAfter = {5, 12, 25};
// The rest of the normalised VGG-19 (relu4_2 .. relu5_4), stored in the official file but unused.
const std::set<int> kEncoderUnused = {32, 35, 38, 42, 45, 48, 51};
// Decoder: upsampling x2 precedes convolutions 5, 18 and 25; 28 has no ReLU.
const std::vector<ConvSpec> kDecoder = {{1, 256, 512, 3},  {5, 256, 256, 3},  {8, 256, 256, 3},
                                        {11, 256, 256, 3}, {14, 128, 256, 3}, {18, 128, 128, 3},
                                        {21, 64, 128, 3},  {25, 64, 64, 3},   {28, 3, 64, 3}};
const std::set<int> kUpsampleBefore = {5, 18, 25};
constexpr int kLastDecoder = 28;

std::string shape_text(at::IntArrayRef s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

// "12.weight" -> (12, "weight"); (-1, "") when the key has another form.
std::pair<int, std::string> split_key(const std::string& key) {
  const auto dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 3) return {-1, ""};
  for (size_t i = 0; i < dot; ++i)
    if (key[i] < '0' || key[i] > '9') return {-1, ""};
  return {std::stoi(key.substr(0, dot)), key.substr(dot + 1)};
}

// The convolutions of `specs` from a state dict, every key and shape checked. `what` names the
// network in messages; `ignored` are layers a complete file holds beyond those used.
std::vector<at::Tensor> read_convs(const StateDict& sd, const std::string& path,
                                   const std::vector<ConvSpec>& specs, const std::set<int>& ignored,
                                   const std::string& what, const std::string& other_first_key,
                                   const std::string& swap_hint) {
  std::map<std::string, const at::Tensor*> by_key;
  for (const auto& [k, t] : sd.tensors) by_key[k] = &t;
  if (!by_key.count(std::to_string(specs[0].index) + ".weight") && by_key.count(other_first_key))
    throw Error(path, swap_hint);
  std::set<std::string> used;
  std::vector<at::Tensor> out;
  for (const auto& s : specs)
    for (const std::string part : {"weight", "bias"}) {
      const std::string key = std::to_string(s.index) + "." + part;
      const auto it = by_key.find(key);
      if (it == by_key.end())
        throw Error(path, "not the " + what + ": key '" + key + "' is missing (" +
                              std::to_string(sd.tensors.size()) + " tensors in the file)");
      const at::Tensor& t = *it->second;
      const std::vector<int64_t> want = part == "weight"
                                            ? std::vector<int64_t>{s.out, s.in, s.kernel, s.kernel}
                                            : std::vector<int64_t>{s.out};
      if (t.sizes() != at::IntArrayRef(want))
        throw Error(path, "not the " + what + ": '" + key + "' has shape " + shape_text(t.sizes()) +
                              ", expected " + shape_text(want));
      if (!t.is_floating_point()) throw Error(path, "'" + key + "' is not a floating-point tensor");
      used.insert(key);
      out.push_back(t.to(at::kFloat).contiguous().clone());
    }
  for (const auto& [k, t] : sd.tensors) {
    if (used.count(k)) continue;
    const auto [index, part] = split_key(k);
    if (ignored.count(index) && (part == "weight" || part == "bias")) continue;
    throw Error(path, "not the " + what + ": unexpected key '" + k + "'");
  }
  return out;
}

WeightsInfo info_of(const std::string& path, const StateDict& sd) {
  return {path, sha256_file(path), sd.format};
}

// An "upsample x2 (nearest), reflection-pad 1, 3x3 conv" as four 2x2 convolutions at the low
// resolution. Output row 2i+p of the padded upsampled image reads rows 2i+p-1 .. 2i+p+1, i.e.
// low-resolution rows (i-1, i, i) for p = 0 and (i, i, i+1) for p = 1; the reflected border row
// of the upsampled image is the low-resolution edge row, i.e. replication padding of the input.
// So phase p's kernel rows are (w0, w1 + w2) on rows (i-1, i) and (w0 + w1, w2) on (i, i+1);
// columns alike. The four phases are stacked as output channels c*4 + py*2 + px.
std::pair<at::Tensor, at::Tensor> phase_weights(const at::Tensor& w, const at::Tensor& b) {
  const auto opts = w.options();
  const at::Tensor m0 = at::tensor({1.f, 0.f, 0.f, 0.f, 1.f, 1.f}, opts).view({2, 3});
  const at::Tensor m1 = at::tensor({1.f, 1.f, 0.f, 0.f, 0.f, 1.f}, opts).view({2, 3});
  std::vector<at::Tensor> phases;
  for (const auto& my : {m0, m1})
    for (const auto& mx : {m0, m1}) phases.push_back(at::einsum("ak,oikl,bl->oiab", {my, w, mx}));
  const at::Tensor stacked = at::stack(phases, 1);  // [Co, 4, Ci, 2, 2]
  return {stacked.reshape({w.size(0) * 4, w.size(1), 2, 2}).contiguous(),
          b.repeat_interleave(4).contiguous()};
}

at::Tensor phase_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), co = weight.size(0) / 4;
  const at::Tensor y = at::conv2d(at::replication_pad2d(x, {1, 1, 1, 1}), weight, bias).contiguous();
  const at::Tensor y5 = y.view({n, co, 4, h + 1, w + 1});
  at::Tensor out = at::empty({n, co, 2 * h, 2 * w}, x.options().memory_format(at::MemoryFormat::Contiguous));
  const at::Tensor out6 = out.view({n, co, h, 2, w, 2});
  for (int64_t py = 0; py < 2; ++py)
    for (int64_t px = 0; px < 2; ++px)
      out6.select(5, px).select(3, py).copy_(
          y5.select(2, py * 2 + px).slice(2, py, py + h).slice(3, px, px + w));
  return out;
}

at::Tensor pad_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return at::conv2d(at::reflection_pad2d(x, {1, 1, 1, 1}), weight, bias);
}

}  // namespace

AdainNet::AdainNet(const std::string& vgg_path, const std::string& decoder_path, c10::Device device)
    : device_(device) {
  const StateDict vsd = load_state_dict(vgg_path);
  const auto enc = read_convs(
      vsd, vgg_path, kEncoder, kEncoderUnused, "normalised VGG-19 (vgg_normalised.pth)", "1.weight",
      "this is the AdaIN decoder (decoder.pth), not the VGG encoder: swap --vgg and --decoder");
  const StateDict dsd = load_state_dict(decoder_path);
  const auto dec =
      read_convs(dsd, decoder_path, kDecoder, {}, "AdaIN decoder (decoder.pth)", "0.weight",
                 "this is the VGG encoder (vgg_normalised.pth), not the decoder: swap --vgg and --decoder");
  vgg_ = info_of(vgg_path, vsd);
  decoder_ = info_of(decoder_path, dsd);
  for (size_t i = 0; i < kEncoder.size(); ++i)
    encoder_.push_back({kEncoder[i].index, enc[2 * i].to(device), enc[2 * i + 1].to(device), {}, {}});
  for (size_t i = 0; i < kDecoder.size(); ++i) {
    Conv c{kDecoder[i].index, dec[2 * i].to(device), dec[2 * i + 1].to(device), {}, {}};
    if (kUpsampleBefore.count(c.index))
      std::tie(c.phase_weight, c.phase_bias) = phase_weights(c.weight, c.bias);
    decoder_layers_.push_back(std::move(c));
  }
  // conv2(pad(conv0(x))) = conv2'(pad(x)): W'[o,i] = sum_j W2[o,j] W0[j,i], b' = b2 + sum W2[o,j,..] b0[j].
  const at::Tensor w0 = encoder_[0].weight.view({3, 3});
  const at::Tensor& w2 = encoder_[1].weight;
  folded_weight_ = at::einsum("ojhw,ji->oihw", {w2, w0}).contiguous();
  folded_bias_ = (encoder_[1].bias + w2.sum({2, 3}).matmul(encoder_[0].bias)).contiguous();
}

at::Tensor AdainNet::encode(const at::Tensor& images) const {
  at::Tensor x = images.to(device_, at::kFloat);
  if (channels_last_) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  size_t first = 1;
  if (reference_) {
    x = at::conv2d(x, encoder_[0].weight, encoder_[0].bias);
  } else {
    x = pad_conv(x, folded_weight_, folded_bias_).relu_();
    first = 2;
    if (kPoolAfter.count(encoder_[1].index)) x = at::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true);
  }
  for (size_t i = first; i < encoder_.size(); ++i) {
    x = pad_conv(x, encoder_[i].weight, encoder_[i].bias).relu_();
    if (kPoolAfter.count(encoder_[i].index)) x = at::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true);
  }
  return x;
}

at::Tensor AdainNet::decode(const at::Tensor& features) const {
  at::Tensor x = features.to(device_, at::kFloat);
  if (channels_last_) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  for (const auto& c : decoder_layers_) {
    if (!kUpsampleBefore.count(c.index))
      x = pad_conv(x, c.weight, c.bias);
    else if (reference_)
      x = pad_conv(at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2}), c.weight, c.bias);
    else
      x = phase_conv(x, c.phase_weight, c.phase_bias);
    if (c.index != kLastDecoder) x = x.relu_();
  }
  return x;
}

std::pair<at::Tensor, at::Tensor> mean_std(const at::Tensor& f, double eps) {
  const int64_t n = f.size(0), c = f.size(1);
  const at::Tensor flat = f.reshape({n, c, -1});
  const at::Tensor var = flat.var(2) + eps;  // unbiased, as torch.var's default
  return {flat.mean(2).view({n, c, 1, 1}), var.sqrt().view({n, c, 1, 1})};
}

at::Tensor adaptive_instance_normalization(const at::Tensor& content, const at::Tensor& style_mean,
                                           const at::Tensor& style_std) {
  const auto [mean, std] = mean_std(content);
  const auto size = content.sizes();
  return (content - mean.expand(size)) / std.expand(size) * style_std.expand(size) + style_mean.expand(size);
}

at::Tensor blend(const at::Tensor& adain, const at::Tensor& content, double alpha) {
  if (alpha == 1.0) return adain;
  return adain * alpha + content * (1 - alpha);
}

at::Tensor to_tensor(const Image& image) {
  const at::Tensor hwc = at::from_blob(const_cast<std::uint8_t*>(image.rgb.data()),
                                       {image.height, image.width, 3}, at::TensorOptions().dtype(at::kByte));
  return hwc.permute({2, 0, 1}).to(at::kFloat).div(255).unsqueeze(0).contiguous();
}

Image to_image(const at::Tensor& chw) {
  const at::Tensor bytes =
      chw.mul(255).add_(0.5).clamp_(0, 255).permute({1, 2, 0}).to(at::kCPU).to(at::kByte).contiguous();
  Image img;
  img.height = static_cast<int>(chw.size(1));
  img.width = static_cast<int>(chw.size(2));
  img.rgb.assign(bytes.data_ptr<std::uint8_t>(), bytes.data_ptr<std::uint8_t>() + bytes.numel());
  return img;
}

void check_size(int width, int height, const std::string& path, const std::string& what) {
  if (std::min(width, height) < kMinSide)
    throw Error(path, what + " of " + std::to_string(width) + "x" + std::to_string(height) +
                          " is too small for the encoder: each side needs at least " +
                          std::to_string(kMinSide) +
                          " pixels (three 2x2 poolings, then reflection padding by 1)");
}

}  // namespace bagnet::stylize
