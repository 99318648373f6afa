"""What the convnet suite tells a student whose function is wrong: one hint per function (and
per way of being wrong), appended to the failure message as "Hint: ...". Hints describe the
computation, never the expected values (those ship with the release as visible fixtures)."""

AFFINE = "flatten each example: x.reshape(N, -1) @ w + b; dx has x's original shape."
AFFINE_BACK = ("match the shapes: dx like x (un-flattened), dw like w, db like b; a bias "
               "gradient collects every example in the batch.")
RELU = "out = np.maximum(x, 0)."
RELU_BACK = "dx = dout where x > 0, else 0."
SOFTMAX = "loss = mean over rows of -log softmax(x)[y]; dx = (softmax(x) - onehot(y)) / N."

CONV = ("H_out = 1 + (H + 2*pad - HH) // stride; window (i, j) starts at row i*stride, column "
        "j*stride of the zero-padded input.")
CONV_BACK = ("send dout[n, f, i, j] to the same strided window of the padded input that the "
             "forward pass read (and to w[f]); db sums dout over n, i, j; then drop the padding.")
POOL = ("H_out = 1 + (H - pool_height) // stride; window (i, j) starts at row i*stride, column "
        "j*stride.")
POOL_BACK = ("only the maximum of each window gets dout[n, c, i, j]; every other entry of the "
             "window gets 0; overlapping windows add up.")
FAST = "the fast version must compute exactly what the naive definition does."
COL2IM = ("In col2im, windows overlap when stride < filter size: add (+=) every column into "
          "its window.")
SLOW = "no Python loops over examples, channels or output pixels."
# Cost of a naive backward pass: a loop does about one step per output value; a numeric
# derivative of the forward does two forward passes per input value.
COST = ("derive the gradient: one pass over the output values (as the forward does), each "
        "sending dout to what produced it; differentiating your forward pass numerically is a "
        "gradient check, not a backward pass.")

DROPOUT_RANDOM = ("every unit is kept independently with probability p: draw a fresh uniform "
                  "number per unit (rng.random(x.shape) < p), no pattern.")
DROPOUT_KEEP = ("p is the probability of KEEPING a unit: mask = rng.random(x.shape) < p.")
DROPOUT_SEED = ("draw the mask from np.random.default_rng(dropout_param.get('seed')): a seed "
                "gives a repeatable mask, no seed a fresh one every call.")
DROPOUT_SCALE = ("inverted dropout divides the kept activations by p, so nothing changes at "
                 "test time.")
DROPOUT_TEST = "in test mode return x unchanged (inverted dropout scaled at train time)."
DROPOUT_BACK = ("dx = dout * mask, with the same (scaled) mask as the forward pass: keep it in "
                "the cache rather than drawing a new one.")

BN = ("train: x_hat = (x - batch mean) / sqrt(batch var + eps) with the biased (divide by N) "
      "variance, out = gamma * x_hat + beta; test: the same with the running statistics.")
BN_STATS = ("running = momentum * running + (1 - momentum) * batch statistic, written back into "
            "bn_param['running_mean'] / ['running_var'] (defaults: momentum 0.9, eps 1e-5, "
            "running statistics start at zeros).")
BN_TEST_BACK = ("in test mode the running statistics are constants, so the layer is an "
                "elementwise affine function of x.")
BN_BACK = ("in train mode the batch mean and variance depend on every row of x: backpropagate "
           "through them too (draw the graph x -> mean, var -> x_hat -> out).")

RULES = {
    "sgd": "next_w = w - learning_rate * dw.",
    "sgd_momentum": "v = momentum * v - learning_rate * dw; next_w = w + v; keep v in config "
                    "between steps (it starts at zeros).",
    "rmsprop": "cache = decay_rate * cache + (1 - decay_rate) * dw**2; next_w = w - "
               "learning_rate * dw / (sqrt(cache) + epsilon); keep cache in config.",
    "adam": "t += 1 FIRST, then m, v and the bias corrections m / (1 - beta1**t), "
            "v / (1 - beta2**t); keep m, v and t in config.",
}
RULE_DEFAULTS = "fill in the default hyper-parameters when config is None."

MODEL_NOTE = ("ThreeLayerConvNet runs on your layers (through layer_utils: the fast conv and "
              "pool, affine, relu, softmax_loss); fix failing layer tests first.")
MODEL_SCORES = "conv - relu - 2x2 max pool - affine - relu - affine."
MODEL_LOSS = "softmax loss + reg * (sum(W1**2) + sum(W2**2) + sum(W3**2))."
MODEL_GRADS = ("backpropagate through every layer in reverse order and add 2 * reg * W to each "
               "weight gradient.")
MODEL_REG = ("the penalty's gradient is 2 * reg * W for W1, W2, W3 and nothing for the "
             "biases.")
MODEL_GRADCHECK = ("check the layer tests first; then the order of the backward calls and the "
                   "2 * reg * W terms.")
MODEL_SHAPES = "conv keeps H and W (pad (F-1)//2), the 2x2 pool halves them."
MODEL_DTYPE = "convert every parameter with .astype(dtype)."
ACCURACY = ("the training settings are the assignment's, so a low accuracy means a wrong layer, "
            "gradient or update rule: make the tests above pass first.")
