#!/usr/bin/env python3
"""Writes reference.json: RoPE tables of the Llama decoder for every rope_scaling type.

No torch here, so this is a transcription of Hugging Face transformers v4.49.0 in plain Python
(standard library `math` only, double precision):

  src/transformers/modeling_rope_utils.py   _compute_default_rope_parameters,
      _compute_linear_scaling_rope_parameters, _compute_dynamic_ntk_parameters,
      _compute_yarn_parameters, _compute_longrope_parameters, _compute_llama3_parameters,
      ROPE_INIT_FUNCTIONS
  src/transformers/models/llama/modeling_llama.py   LlamaRotaryEmbedding (__init__,
      _dynamic_frequency_update, forward)

Each block below names the function it follows; torch tensor expressions are written as list
comprehensions over the same operands in the same order. transformers computes in float32, this
script in float64: the C++ test (tests/test_rope_scaling.cpp) compares its fp32 tables with these
values within a bound that fp32 rounding explains (see the test).

v4.49.0 specifics worth knowing (later releases changed them):
  * yarn reads only factor, attention_factor, beta_fast, beta_slow; it uses max_position_embeddings
    for the correction range and always floors / ceils it. mscale, mscale_all_dim, truncate and
    rope_scaling.original_max_position_embeddings arrived later (DeepSeek-V3); v4.49 ignores them
    (a "yarn_ignored_keys" case below sets them and must equal "yarn_hd128").
  * LlamaRotaryEmbedding updates its table only for "dynamic" (_dynamic_frequency_update). It
    builds longrope once without seq_len, so a Llama decoder always uses the short factors.
  * rope_scaling.original_max_position_embeddings is read by llama3 only; longrope reads the text
    config's own original_max_position_embeddings (Phi-3 style) when it has one.

Run it from anywhere: python3 tests/data/rope_scaling/make_reference.py
"""

import json
import math
import os


class Config:
    """The attributes of LlamaConfig that the RoPE code reads."""

    def __init__(self, text_config):
        self.text_config = text_config  # what config.json's text_config holds
        self.rope_theta = text_config["rope_theta"]
        self.hidden_size = text_config["hidden_size"]
        self.num_attention_heads = text_config["num_attention_heads"]
        self.head_dim = text_config.get("head_dim", self.hidden_size // self.num_attention_heads)
        self.max_position_embeddings = text_config["max_position_embeddings"]
        self.rope_scaling = text_config.get("rope_scaling")
        # PretrainedConfig turns unknown keys into attributes, so hasattr() is true exactly when
        # the file sets the key.
        if "original_max_position_embeddings" in text_config:
            self.original_max_position_embeddings = text_config["original_max_position_embeddings"]
        # LlamaConfig.__init__: "BC: if there is a 'type' field, copy it it to 'rope_type'."
        if self.rope_scaling is not None and "type" in self.rope_scaling:
            self.rope_scaling["rope_type"] = self.rope_scaling["type"]


def arange_over_dim(dim):
    # torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
    return [i / dim for i in range(0, dim, 2)]


# --- modeling_rope_utils.py: _compute_default_rope_parameters ----------------------------------
def _compute_default_rope_parameters(config, seq_len=None):
    base = config.rope_theta
    partial_rotary_factor = getattr(config, "partial_rotary_factor", 1.0)
    head_dim = getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    dim = int(head_dim * partial_rotary_factor)

    attention_factor = 1.0  # Unused in this type of RoPE

    # inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    inv_freq = [1.0 / (base**e) for e in arange_over_dim(dim)]
    return inv_freq, attention_factor


# --- modeling_rope_utils.py: _compute_linear_scaling_rope_parameters ---------------------------
def _compute_linear_scaling_rope_parameters(config, seq_len=None):
    factor = config.rope_scaling["factor"]

    inv_freq, attention_factor = _compute_default_rope_parameters(config, seq_len)

    # inv_freq /= factor
    inv_freq = [f / factor for f in inv_freq]
    return inv_freq, attention_factor


# --- modeling_rope_utils.py: _compute_dynamic_ntk_parameters -----------------------------------
def _compute_dynamic_ntk_parameters(config, seq_len=None):
    base = config.rope_theta
    partial_rotary_factor = getattr(config, "partial_rotary_factor", 1.0)
    head_dim = getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    dim = int(head_dim * partial_rotary_factor)
    max_position_embeddings = config.max_position_embeddings
    factor = config.rope_scaling["factor"]

    attention_factor = 1.0  # Unused in this type of RoPE

    # seq_len: default to max_position_embeddings, e.g. at init time
    seq_len = seq_len if seq_len is not None and seq_len > max_position_embeddings else max_position_embeddings

    # Compute the inverse frequencies
    base = base * ((factor * seq_len / max_position_embeddings) - (factor - 1)) ** (dim / (dim - 2))
    inv_freq = [1.0 / (base**e) for e in arange_over_dim(dim)]
    return inv_freq, attention_factor


# --- modeling_rope_utils.py: _compute_yarn_parameters ------------------------------------------
def _compute_yarn_parameters(config, seq_len=None):
    base = config.rope_theta
    partial_rotary_factor = getattr(config, "partial_rotary_factor", 1.0)
    head_dim = getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    dim = int(head_dim * partial_rotary_factor)
    max_position_embeddings = config.max_position_embeddings
    factor = config.rope_scaling["factor"]

    # Sets the attention factor as suggested in the paper
    attention_factor = config.rope_scaling.get("attention_factor")
    if attention_factor is None:
        attention_factor = 0.1 * math.log(factor) + 1.0

    # Optional config options
    # beta_fast/beta_slow: as suggested in the paper, default to 32/1 (correspondingly)
    beta_fast = config.rope_scaling.get("beta_fast") or 32
    beta_slow = config.rope_scaling.get("beta_slow") or 1

    # Compute the inverse frequencies
    def find_correction_dim(num_rotations, dim, base, max_position_embeddings):
        """Inverse dimension formula to find the dimension based on the number of rotations"""
        return (dim * math.log(max_position_embeddings / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    def find_correction_range(low_rot, high_rot, dim, base, max_position_embeddings):
        """Find dimension range bounds based on rotations"""
        low_dim = find_correction_dim(low_rot, dim, base, max_position_embeddings)
        high_dim = find_correction_dim(high_rot, dim, base, max_position_embeddings)
        # Not in transformers: floor/ceil must not sit on a rounding edge, or float32 C++ and this
        # float64 script could pick different integers.
        for v in (low_dim, high_dim):
            assert abs(v - round(v)) > 1e-6, f"correction dim {v} is too close to an integer"
        low = math.floor(low_dim)
        high = math.ceil(high_dim)
        return max(low, 0), min(high, dim - 1)

    def linear_ramp_factor(min, max, dim):
        if min == max:
            max += 0.001  # Prevent singularity

        # linear_func = (torch.arange(dim, dtype=torch.float32) - min) / (max - min)
        linear_func = [(i - min) / (max - min) for i in range(dim)]
        # ramp_func = torch.clamp(linear_func, 0, 1)
        ramp_func = [min_(max_(x, 0.0), 1.0) for x in linear_func]
        return ramp_func

    # pos_freqs = base ** (torch.arange(0, dim, 2).float().to(device) / dim)
    pos_freqs = [base**e for e in arange_over_dim(dim)]
    inv_freq_extrapolation = [1.0 / p for p in pos_freqs]
    inv_freq_interpolation = [1.0 / (factor * p) for p in pos_freqs]

    low, high = find_correction_range(beta_fast, beta_slow, dim, base, max_position_embeddings)

    # Get n-dimensional rotational scaling corrected for extrapolation
    # inv_freq_extrapolation_factor = 1 - linear_ramp_factor(low, high, dim // 2).float()
    inv_freq_extrapolation_factor = [1 - r for r in linear_ramp_factor(low, high, dim // 2)]
    inv_freq = [
        inv_freq_interpolation[i] * (1 - inv_freq_extrapolation_factor[i])
        + inv_freq_extrapolation[i] * inv_freq_extrapolation_factor[i]
        for i in range(dim // 2)
    ]
    return inv_freq, attention_factor


# --- modeling_rope_utils.py: _compute_longrope_parameters --------------------------------------
def _compute_longrope_parameters(config, seq_len=None):
    base = config.rope_theta
    partial_rotary_factor = getattr(config, "partial_rotary_factor", 1.0)
    head_dim = getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    dim = int(head_dim * partial_rotary_factor)
    long_factor = config.rope_scaling["long_factor"]
    short_factor = config.rope_scaling["short_factor"]
    factor = config.rope_scaling.get("factor")
    attention_factor = config.rope_scaling.get("attention_factor")

    # NOTE: Phi3 (and potentially other models) modify `max_position_embeddings` and have a
    # `original_max_position_embeddings` field containing the pretrained value. They use the ratio between these two
    # values to compute the default attention scaling factor, instead of using `factor`.
    if hasattr(config, "original_max_position_embeddings"):
        original_max_position_embeddings = config.original_max_position_embeddings
        factor = config.max_position_embeddings / config.original_max_position_embeddings
    else:
        original_max_position_embeddings = config.max_position_embeddings

    # Sets the attention factor as suggested in the paper
    if attention_factor is None:
        if factor <= 1.0:
            attention_factor = 1.0
        else:
            attention_factor = math.sqrt(1 + math.log(factor) / math.log(original_max_position_embeddings))

    # Compute the inverse frequencies -- scaled based on the target sequence length
    if seq_len and seq_len > original_max_position_embeddings:
        ext_factors = long_factor
    else:
        ext_factors = short_factor
    inv_freq_shape = arange_over_dim(dim)
    # inv_freq = 1.0 / (ext_factors * base**inv_freq_shape)
    inv_freq = [1.0 / (ext_factors[i] * base ** inv_freq_shape[i]) for i in range(dim // 2)]
    return inv_freq, attention_factor


# --- modeling_rope_utils.py: _compute_llama3_parameters ----------------------------------------
def _compute_llama3_parameters(config, seq_len=None):
    # Gets the default RoPE parameters
    inv_freq, attention_factor = _compute_default_rope_parameters(config, seq_len)

    factor = config.rope_scaling["factor"]  # `8` in the original implementation
    low_freq_factor = config.rope_scaling["low_freq_factor"]  # `1` in the original implementation
    high_freq_factor = config.rope_scaling["high_freq_factor"]  # `4` in the original implementation
    old_context_len = config.rope_scaling["original_max_position_embeddings"]  # `8192` in the original implementation

    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor

    wavelen = [2 * math.pi / f for f in inv_freq]
    # Not in transformers: no wavelength may sit on a band edge, where float32 and float64 could
    # take different branches.
    for w in wavelen:
        for edge in (low_freq_wavelen, high_freq_wavelen):
            assert abs(w - edge) > 1e-4 * edge, f"wavelength {w} is too close to {edge}"
    # wavelen < high_freq_wavelen: do nothing
    # wavelen > low_freq_wavelen: divide by factor
    # inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    inv_freq_llama = [f / factor if w > low_freq_wavelen else f for f, w in zip(inv_freq, wavelen)]
    # otherwise: interpolate between the two, using a smooth factor
    smooth_factor = [(old_context_len / w - low_freq_factor) / (high_freq_factor - low_freq_factor) for w in wavelen]
    smoothed_inv_freq = [
        (1 - s) * f / factor + s * f for s, f in zip(smooth_factor, inv_freq_llama)
    ]
    # is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    is_medium_freq = [(not (w < high_freq_wavelen)) and (not (w > low_freq_wavelen)) for w in wavelen]
    # inv_freq_llama = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    inv_freq_llama = [s if m else f for m, s, f in zip(is_medium_freq, smoothed_inv_freq, inv_freq_llama)]
    return inv_freq_llama, attention_factor


def min_(a, b):
    return a if a < b else b


def max_(a, b):
    return a if a > b else b


# --- modeling_rope_utils.py: ROPE_INIT_FUNCTIONS -----------------------------------------------
ROPE_INIT_FUNCTIONS = {
    "default": _compute_default_rope_parameters,
    "linear": _compute_linear_scaling_rope_parameters,
    "dynamic": _compute_dynamic_ntk_parameters,
    "yarn": _compute_yarn_parameters,
    "longrope": _compute_longrope_parameters,
    "llama3": _compute_llama3_parameters,
}


# --- modeling_llama.py: LlamaRotaryEmbedding ---------------------------------------------------
class LlamaRotaryEmbedding:
    def __init__(self, config):
        # BC: "rope_type" was originally "type"
        if getattr(config, "rope_scaling", None) is not None:
            self.rope_type = config.rope_scaling.get("rope_type", config.rope_scaling.get("type"))
        else:
            self.rope_type = "default"
        self.max_seq_len_cached = config.max_position_embeddings
        self.original_max_seq_len = config.max_position_embeddings

        self.config = config
        self.rope_init_fn = ROPE_INIT_FUNCTIONS[self.rope_type]

        inv_freq, self.attention_scaling = self.rope_init_fn(self.config)
        self.inv_freq = inv_freq
        self.original_inv_freq = self.inv_freq

    def _dynamic_frequency_update(self, position_ids):
        """
        dynamic RoPE layers should recompute `inv_freq` in the following situations:
        1 - growing beyond the cached sequence length (allow scaling)
        2 - the current sequence length is in the original scale (avoid losing precision with small sequences)
        """
        seq_len = max(position_ids) + 1
        if seq_len > self.max_seq_len_cached:  # growth
            inv_freq, self.attention_scaling = self.rope_init_fn(self.config, seq_len=seq_len)
            self.inv_freq = inv_freq
            self.max_seq_len_cached = seq_len

        if seq_len < self.original_max_seq_len and self.max_seq_len_cached > self.original_max_seq_len:  # reset
            self.inv_freq = self.original_inv_freq
            self.max_seq_len_cached = self.original_max_seq_len

    def forward(self, position_ids):
        if "dynamic" in self.rope_type:
            self._dynamic_frequency_update(position_ids)

        # freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
        # emb = torch.cat((freqs, freqs), dim=-1); cos = emb.cos(); sin = emb.sin()
        # Only the first half is stored: the second repeats it.
        freqs = [[p * f for f in self.inv_freq] for p in position_ids]
        cos = [[math.cos(x) for x in row] for row in freqs]
        sin = [[math.sin(x) for x in row] for row in freqs]

        # Advanced RoPE types (e.g. yarn) apply a post-processing scaling factor, equivalent to scaling attention
        cos = [[c * self.attention_scaling for c in row] for row in cos]
        sin = [[s * self.attention_scaling for s in row] for row in sin]
        return cos, sin


# --- the cases ---------------------------------------------------------------------------------
def text_config(head_dim, theta, max_positions, rope_scaling, **extra):
    heads = 4
    c = {
        "model_type": "llama",
        "hidden_size": head_dim * heads,
        "num_attention_heads": heads,
        "head_dim": head_dim,
        "rope_theta": theta,
        "max_position_embeddings": max_positions,
        "rope_scaling": rope_scaling,
    }
    c.update(extra)
    return c


def positions_around(limit):
    """A few positions: the start, inside, the last one before `limit`, `limit` itself and past it."""
    return [0, 1, 7, 100, limit - 1, limit, 2 * limit + 5]


def longrope_factors(n, start, step):
    return [round(start + step * i, 4) for i in range(n)]


CASES = [
    # name, text_config, list of position lists (one forward each, in order)
    ("default_hd64", text_config(64, 10000.0, 2048, None), [positions_around(2048)]),
    ("default_hd128", text_config(128, 500000.0, 8192, {"rope_type": "default"}), [positions_around(8192)]),
    ("linear_hd64", text_config(64, 10000.0, 2048, {"type": "linear", "factor": 2.0}), [positions_around(2048)]),
    ("linear_hd128", text_config(128, 500000.0, 4096, {"rope_type": "linear", "factor": 4}), [positions_around(4096)]),
    # dynamic: one forward per entry, in this order, on one LlamaRotaryEmbedding. The largest
    # position + 1 is the seq_len _dynamic_frequency_update sees: below, at and past
    # max_position_embeddings, growing, then a short sequence (reset), then growing again. Each
    # list is either a whole prefill (0 .. n-1, a few of its positions) or one decode position.
    (
        "dynamic_hd64",
        text_config(64, 10000.0, 2048, {"type": "dynamic", "factor": 2.0}),
        [[0, 1, 50, 99], [2047], [0, 5, 1000, 2048], [2999], [0, 7, 4000, 5999], [0, 1, 99], [4095]],
    ),
    (
        "dynamic_hd128",
        text_config(128, 500000.0, 4096, {"rope_type": "dynamic", "factor": 4.0,
                                          "original_max_position_embeddings": 4096}),
        [[0, 3, 4095], [4999], [0, 100, 4096, 8999], [9], [0, 20000, 30000]],
    ),
    ("yarn_hd64", text_config(64, 10000.0, 2048, {"type": "yarn", "factor": 4.0}), [positions_around(2048)]),
    (
        "yarn_hd128",
        text_config(128, 500000.0, 8192, {"rope_type": "yarn", "factor": 8.0, "attention_factor": 1.2,
                                          "beta_fast": 16, "beta_slow": 2.0}),
        [positions_around(8192)],
    ),
    (
        "yarn_ignored_keys",
        text_config(128, 500000.0, 8192, {"rope_type": "yarn", "factor": 8.0, "attention_factor": 1.2,
                                          "beta_fast": 16, "beta_slow": 2.0, "mscale": 0.707,
                                          "mscale_all_dim": 0.707, "original_max_position_embeddings": 1024,
                                          "truncate": False}),
        [positions_around(8192)],
    ),
    (
        # Phi-3 style: the text config's original_max_position_embeddings sets factor = 8192 / 1024.
        "longrope_hd64",
        text_config(64, 10000.0, 8192, {"type": "longrope", "short_factor": longrope_factors(32, 1.0, 0.05),
                                        "long_factor": longrope_factors(32, 1.0, 0.5)},
                    original_max_position_embeddings=1024),
        [positions_around(1024) + [8191]],
    ),
    (
        "longrope_hd128",
        text_config(128, 500000.0, 4096, {"rope_type": "longrope", "factor": 4.0,
                                          "short_factor": longrope_factors(64, 1.0, 0.02),
                                          "long_factor": longrope_factors(64, 2.0, 0.25)}),
        [positions_around(4096)],
    ),
    (
        "longrope_attention_factor",
        text_config(64, 10000.0, 4096, {"rope_type": "longrope", "attention_factor": 1.5,
                                        "short_factor": longrope_factors(32, 0.9, 0.1),
                                        "long_factor": longrope_factors(32, 1.0, 1.0)}),
        [positions_around(4096)],
    ),
    (
        "llama3_hd128",  # Llama 3.1's values
        text_config(128, 500000.0, 131072, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        [[0, 1, 7, 100, 8191, 8192, 20000]],
    ),
    (
        "llama3_hd64",
        text_config(64, 10000.0, 8192, {"rope_type": "llama3", "factor": 4, "low_freq_factor": 1,
                                        "high_freq_factor": 4, "original_max_position_embeddings": 2048}),
        [positions_around(2048)],
    ),
]


def shorten(x):
    if isinstance(x, float):
        return float(f"{x:.12g}")
    if isinstance(x, list):
        return [shorten(v) for v in x]
    if isinstance(x, dict):
        return {k: shorten(v) for k, v in x.items()}
    return x


def main():
    cases = []
    for name, tc, calls in CASES:
        config = Config(json.loads(json.dumps(tc)))  # the config class edits its own copy
        rope = LlamaRotaryEmbedding(config)
        out_calls = []
        for positions in calls:
            cos, sin = rope.forward(positions)
            out_calls.append({
                "positions": positions,
                "seq_len": max(positions) + 1,
                "inv_freq": rope.inv_freq,
                "attention_factor": rope.attention_scaling,
                "cos": cos,
                "sin": sin,
            })
        cases.append({"name": name, "rope_type": rope.rope_type, "text_config": tc, "calls": out_calls})
    doc = {
        "source": "transformers v4.49.0 modeling_rope_utils.py and LlamaRotaryEmbedding, transcribed in "
                  "make_reference.py (float64)",
        "layout": "cos and sin: one row per position, the first head_dim / 2 columns (the second half "
                  "repeats them); the forwards of a case run in order on one rotary embedding",
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        # 12 significant digits: far below the fp32 resolution the test checks, and a smaller file.
        # One case a line: readable enough, and diffs stay per case.
        head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, indent=1)[:-2]
        f.write(head + ',\n "cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in shorten(cases)))
        f.write("\n ]\n}\n")
    print(f"wrote {path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
