"""What the convnet suite tells a student whose function is wrong: one hint per function (and
per way of being wrong), appended to the failure message as "Hint: ...". Hints point at the
likely mistake and at where the docstrings explain the computation; they never state the
solution's formula or code (tests/test_hints.py checks), nor the expected values (visible
fixtures ship with the release)."""

AFFINE = ("each example is flattened to one row before the product, whatever its original "
          "shape; check the shapes of the product and that the bias is added to every row.")
AFFINE_BACK = ("match the shapes: dx like x (un-flattened), dw like w, db like b; a bias "
               "gradient collects every example in the batch.")
RELU = "ReLU keeps the positive entries and replaces every other entry by zero."
RELU_BACK = ("the gradient passes only where the forward input was positive; check which "
             "array you take that mask from (the cached input, not dout).")
SOFTMAX = ("the loss is averaged over the rows (once); take it from log-probabilities in the "
           "log-sum-exp form (README: Conventions), and remember that the correct class's "
           "entry of the gradient differs from the others.")

CONV = ("check the output size for the given stride and padding, and where window (i, j) "
        "starts in the zero-padded input: both steps move by the stride.")
CONV_BACK = ("send dout[n, f, i, j] to the same strided window of the padded input that the "
             "forward pass read (and to w[f]); db sums dout over n, i, j; then drop the padding.")
POOL = ("check the output size for the pool size and stride (no padding), and where window "
        "(i, j) starts: both steps move by the stride.")
POOL_BACK = ("only the maximum of each window gets dout[n, c, i, j]; every other entry of the "
             "window gets 0; overlapping windows add up.")
FAST = "the fast version must compute exactly what the naive definition does."
COL2IM = ("In col2im, windows overlap when stride < filter size: each column must be added "
          "into its window, not written over it.")
SLOW = "no Python loops over examples, channels or output pixels."
# Cost of a naive backward pass: a loop does about one step per output value; a numeric
# derivative of the forward does two forward passes per input value.
COST = ("derive the gradient: one pass over the output values (as the forward does), each "
        "sending dout to what produced it; differentiating your forward pass numerically is a "
        "gradient check, not a backward pass.")

DROPOUT_RANDOM = ("every unit is kept independently with probability p: draw a fresh uniform "
                  "number per unit, no pattern.")
DROPOUT_KEEP = "p is the probability of KEEPING a unit, not of dropping it."
DROPOUT_SEED = ("draw the mask from a generator made from dropout_param's 'seed': a seed gives "
                "a repeatable mask, no seed a fresh one every call.")
DROPOUT_SCALE = ("inverted dropout rescales the kept activations at training time, so that "
                 "nothing changes at test time; check by what.")
DROPOUT_TEST = "in test mode dropout changes nothing (inverted dropout scaled at train time)."
DROPOUT_TEST_BACK = "in test mode dropout is the identity, and so is its backward pass."
DROPOUT_BACK = ("the backward pass needs the same (scaled) mask as the forward pass: keep it in "
                "the cache rather than drawing a new one.")

BN = ("train mode normalizes with the batch statistics (the biased variance, divided by N, "
      "plus eps under the square root) before gamma and beta; test mode uses the running "
      "statistics instead.")
BN_STATS = ("the running statistics are exponential moving averages weighted by momentum, "
            "written back into bn_param['running_mean'] / ['running_var'] (defaults: momentum "
            "0.9, eps 1e-5, running statistics start at zeros); check which side gets momentum.")
BN_TEST_BACK = ("in test mode the running statistics are constants, so the layer is an "
                "elementwise affine function of x.")
BN_BACK = ("in train mode the batch mean and variance depend on every row of x: backpropagate "
           "through them too (draw the graph x -> mean, var -> x_hat -> out).")

RULES = {
    "sgd": "one step against the gradient, scaled by the learning rate.",
    "sgd_momentum": "the velocity accumulates (momentum times the old velocity, plus the "
                    "scaled step against the gradient) and moves w; keep it in config between "
                    "steps (it starts at zeros).",
    "rmsprop": "the cache is a moving average of the squared gradient and divides the step "
               "(check where epsilon goes); keep cache in config.",
    "adam": "increment t FIRST, then update m and v, then correct both for their bias with "
            "the new t; keep m, v and t in config.",
}
RULE_DEFAULTS = "fill in the default hyper-parameters when config is None."

MODEL_NOTE = ("ThreeLayerConvNet runs on your layers (through layer_utils: the fast conv and "
              "pool, affine, relu, softmax_loss); fix failing layer tests first.")
MODEL_SCORES = "conv - relu - 2x2 max pool - affine - relu - affine."
MODEL_LOSS = ("the softmax loss plus the L2 penalty of the three weight matrices (not the "
              "biases).")
MODEL_GRADS = ("backpropagate through every layer in reverse order, and add the derivative of "
               "the L2 penalty to each weight gradient.")
MODEL_REG = ("the penalty's gradient belongs to W1, W2 and W3 only, never the biases; check "
             "that it is the derivative of reg * sum(W**2).")
MODEL_GRADCHECK = ("check the layer tests first; then the order of the backward calls and the "
                   "penalty's gradient terms.")
MODEL_SHAPES = "conv keeps H and W (pad (F-1)//2), the 2x2 pool halves them."
MODEL_DTYPE = "convert every parameter to the requested dtype."
ACCURACY = ("the training settings are the assignment's, so a low accuracy means a wrong layer, "
            "gradient or update rule: make the tests above pass first.")
