/* registry.c: the op table and the facts about each op that the graph layer
 * needs without knowing any op's meaning.
 *
 * lathe_ops[] is built from graph/ops.def, the one list of ops: names,
 * domains, the infer/lower/kernel functions and the parameter-input masks all
 * come from its rows.  The arity table below is the one thing ops.def does
 * not say; it comes from the ONNX operator schemas (newest opset, which is
 * the form the frontend normalizes every node to) and is keyed by the op
 * enum with designated initializers, so removing an op from ops.def breaks
 * the build here instead of silently shifting rows.  An op with no arity row
 * is simply not arity-checked by the verifier.
 *
 * Nothing here is mutable: the tables are const and lookups are linear scans
 * over ~200 rows (done once per node by the importer and the parser).
 */
#include <string.h>

#include "ops/op.h"

/* ops.def names a missing lower or kernel function with these placeholders;
 * op.h has already declared them as functions, so they must only become
 * null pointers here, after its prototypes. */
#define no_lower NULL
#define no_kernel NULL

const lathe_op_info lathe_ops[LATHE_OP_COUNT] = {
#define OP(id, domain, name, infer, lower, kernel, params)                    \
	[LATHE_OP_##id] = {name, domain, infer, lower, kernel, params},
#include "graph/ops.def"
#undef OP
};

#undef no_lower
#undef no_kernel

/* {known, min inputs, max inputs, min outputs, max outputs}; -1 as a maximum
 * means variadic.  The rows are onnx.defs.get_schema(name, domain)'s
 * min_input/max_input/min_output/max_output for every row of ops.def; a
 * new op should get its row here too. */
typedef struct op_arity {
	uint8_t known;
	int16_t min_in, max_in, min_out, max_out;
} op_arity;

static const op_arity op_arities[LATHE_OP_COUNT] = {
	[LATHE_OP_Identity] = {1, 1, 1, 1, 1},
	[LATHE_OP_Abs] = {1, 1, 1, 1, 1},
	[LATHE_OP_Neg] = {1, 1, 1, 1, 1},
	[LATHE_OP_Sign] = {1, 1, 1, 1, 1},
	[LATHE_OP_Reciprocal] = {1, 1, 1, 1, 1},
	[LATHE_OP_Sqrt] = {1, 1, 1, 1, 1},
	[LATHE_OP_Exp] = {1, 1, 1, 1, 1},
	[LATHE_OP_Log] = {1, 1, 1, 1, 1},
	[LATHE_OP_Sin] = {1, 1, 1, 1, 1},
	[LATHE_OP_Cos] = {1, 1, 1, 1, 1},
	[LATHE_OP_Tan] = {1, 1, 1, 1, 1},
	[LATHE_OP_Asin] = {1, 1, 1, 1, 1},
	[LATHE_OP_Acos] = {1, 1, 1, 1, 1},
	[LATHE_OP_Atan] = {1, 1, 1, 1, 1},
	[LATHE_OP_Sinh] = {1, 1, 1, 1, 1},
	[LATHE_OP_Cosh] = {1, 1, 1, 1, 1},
	[LATHE_OP_Tanh] = {1, 1, 1, 1, 1},
	[LATHE_OP_Asinh] = {1, 1, 1, 1, 1},
	[LATHE_OP_Acosh] = {1, 1, 1, 1, 1},
	[LATHE_OP_Atanh] = {1, 1, 1, 1, 1},
	[LATHE_OP_Erf] = {1, 1, 1, 1, 1},
	[LATHE_OP_Floor] = {1, 1, 1, 1, 1},
	[LATHE_OP_Ceil] = {1, 1, 1, 1, 1},
	[LATHE_OP_Round] = {1, 1, 1, 1, 1},
	[LATHE_OP_Not] = {1, 1, 1, 1, 1},
	[LATHE_OP_BitwiseNot] = {1, 1, 1, 1, 1},
	[LATHE_OP_IsNaN] = {1, 1, 1, 1, 1},
	[LATHE_OP_IsInf] = {1, 1, 1, 1, 1},
	[LATHE_OP_Relu] = {1, 1, 1, 1, 1},
	[LATHE_OP_Sigmoid] = {1, 1, 1, 1, 1},
	[LATHE_OP_Softplus] = {1, 1, 1, 1, 1},
	[LATHE_OP_Softsign] = {1, 1, 1, 1, 1},
	[LATHE_OP_Elu] = {1, 1, 1, 1, 1},
	[LATHE_OP_Selu] = {1, 1, 1, 1, 1},
	[LATHE_OP_Celu] = {1, 1, 1, 1, 1},
	[LATHE_OP_LeakyRelu] = {1, 1, 1, 1, 1},
	[LATHE_OP_ThresholdedRelu] = {1, 1, 1, 1, 1},
	[LATHE_OP_HardSigmoid] = {1, 1, 1, 1, 1},
	[LATHE_OP_HardSwish] = {1, 1, 1, 1, 1},
	[LATHE_OP_Shrink] = {1, 1, 1, 1, 1},
	[LATHE_OP_Gelu] = {1, 1, 1, 1, 1},
	[LATHE_OP_Mish] = {1, 1, 1, 1, 1},
	[LATHE_OP_Swish] = {1, 1, 1, 1, 1},
	[LATHE_OP_Binarizer] = {1, 1, 1, 1, 1},
	[LATHE_OP_Add] = {1, 2, 2, 1, 1},
	[LATHE_OP_Sub] = {1, 2, 2, 1, 1},
	[LATHE_OP_Mul] = {1, 2, 2, 1, 1},
	[LATHE_OP_Div] = {1, 2, 2, 1, 1},
	[LATHE_OP_Mod] = {1, 2, 2, 1, 1},
	[LATHE_OP_Pow] = {1, 2, 2, 1, 1},
	[LATHE_OP_PRelu] = {1, 2, 2, 1, 1},
	[LATHE_OP_BitShift] = {1, 2, 2, 1, 1},
	[LATHE_OP_BitwiseAnd] = {1, 2, 2, 1, 1},
	[LATHE_OP_BitwiseOr] = {1, 2, 2, 1, 1},
	[LATHE_OP_BitwiseXor] = {1, 2, 2, 1, 1},
	[LATHE_OP_And] = {1, 2, 2, 1, 1},
	[LATHE_OP_Or] = {1, 2, 2, 1, 1},
	[LATHE_OP_Xor] = {1, 2, 2, 1, 1},
	[LATHE_OP_Equal] = {1, 2, 2, 1, 1},
	[LATHE_OP_Less] = {1, 2, 2, 1, 1},
	[LATHE_OP_LessOrEqual] = {1, 2, 2, 1, 1},
	[LATHE_OP_Greater] = {1, 2, 2, 1, 1},
	[LATHE_OP_GreaterOrEqual] = {1, 2, 2, 1, 1},
	[LATHE_OP_Max] = {1, 1, -1, 1, 1},
	[LATHE_OP_Min] = {1, 1, -1, 1, 1},
	[LATHE_OP_Sum] = {1, 1, -1, 1, 1},
	[LATHE_OP_Mean] = {1, 1, -1, 1, 1},
	[LATHE_OP_Where] = {1, 3, 3, 1, 1},
	[LATHE_OP_Clip] = {1, 1, 3, 1, 1},
	[LATHE_OP_Cast] = {1, 1, 1, 1, 1},
	[LATHE_OP_CastLike] = {1, 2, 2, 1, 1},
	[LATHE_OP_Dropout] = {1, 1, 3, 1, 2},
	[LATHE_OP_ReduceSum] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceMean] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceMax] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceMin] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceProd] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceL1] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceL2] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceLogSum] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceLogSumExp] = {1, 1, 2, 1, 1},
	[LATHE_OP_ReduceSumSquare] = {1, 1, 2, 1, 1},
	[LATHE_OP_ArgMax] = {1, 1, 1, 1, 1},
	[LATHE_OP_ArgMin] = {1, 1, 1, 1, 1},
	[LATHE_OP_Softmax] = {1, 1, 1, 1, 1},
	[LATHE_OP_LogSoftmax] = {1, 1, 1, 1, 1},
	[LATHE_OP_Hardmax] = {1, 1, 1, 1, 1},
	[LATHE_OP_CumSum] = {1, 2, 2, 1, 1},
	[LATHE_OP_CumProd] = {1, 2, 2, 1, 1},
	[LATHE_OP_BatchNormalization] = {1, 5, 5, 1, 3},
	[LATHE_OP_InstanceNormalization] = {1, 3, 3, 1, 1},
	[LATHE_OP_LayerNormalization] = {1, 2, 3, 1, 3},
	[LATHE_OP_RMSNormalization] = {1, 2, 2, 1, 1},
	[LATHE_OP_GroupNormalization] = {1, 3, 3, 1, 1},
	[LATHE_OP_LpNormalization] = {1, 1, 1, 1, 1},
	[LATHE_OP_MeanVarianceNormalization] = {1, 1, 1, 1, 1},
	[LATHE_OP_LRN] = {1, 1, 1, 1, 1},
	[LATHE_OP_SoftmaxCrossEntropyLoss] = {1, 2, 3, 1, 2},
	[LATHE_OP_NegativeLogLikelihoodLoss] = {1, 2, 3, 1, 1},
	[LATHE_OP_Conv] = {1, 2, 3, 1, 1},
	[LATHE_OP_ConvTranspose] = {1, 2, 3, 1, 1},
	[LATHE_OP_ConvInteger] = {1, 2, 4, 1, 1},
	[LATHE_OP_QLinearConv] = {1, 8, 9, 1, 1},
	[LATHE_OP_DeformConv] = {1, 3, 5, 1, 1},
	[LATHE_OP_MaxPool] = {1, 1, 1, 1, 2},
	[LATHE_OP_AveragePool] = {1, 1, 1, 1, 1},
	[LATHE_OP_LpPool] = {1, 1, 1, 1, 1},
	[LATHE_OP_GlobalAveragePool] = {1, 1, 1, 1, 1},
	[LATHE_OP_GlobalMaxPool] = {1, 1, 1, 1, 1},
	[LATHE_OP_GlobalLpPool] = {1, 1, 1, 1, 1},
	[LATHE_OP_MaxUnpool] = {1, 2, 3, 1, 1},
	[LATHE_OP_MaxRoiPool] = {1, 2, 2, 1, 1},
	[LATHE_OP_RoiAlign] = {1, 3, 3, 1, 1},
	[LATHE_OP_Col2Im] = {1, 3, 3, 1, 1},
	[LATHE_OP_CausalConvWithState] = {1, 2, 4, 2, 2},
	[LATHE_OP_MatMul] = {1, 2, 2, 1, 1},
	[LATHE_OP_MatMulInteger] = {1, 2, 4, 1, 1},
	[LATHE_OP_QLinearMatMul] = {1, 8, 8, 1, 1},
	[LATHE_OP_Gemm] = {1, 2, 3, 1, 1},
	[LATHE_OP_Einsum] = {1, 1, -1, 1, 1},
	[LATHE_OP_Det] = {1, 1, 1, 1, 1},
	[LATHE_OP_Attention] = {1, 3, 7, 1, 4},
	[LATHE_OP_RotaryEmbedding] = {1, 3, 4, 1, 1},
	[LATHE_OP_LinearAttention] = {1, 3, 6, 2, 2},
	[LATHE_OP_FlexAttention] = {1, 3, 3, 1, 1},
	[LATHE_OP_Constant] = {1, 0, 0, 1, 1},
	[LATHE_OP_Shape] = {1, 1, 1, 1, 1},
	[LATHE_OP_Size] = {1, 1, 1, 1, 1},
	[LATHE_OP_Reshape] = {1, 2, 2, 1, 1},
	[LATHE_OP_Flatten] = {1, 1, 1, 1, 1},
	[LATHE_OP_Squeeze] = {1, 1, 2, 1, 1},
	[LATHE_OP_Unsqueeze] = {1, 2, 2, 1, 1},
	[LATHE_OP_Transpose] = {1, 1, 1, 1, 1},
	[LATHE_OP_Concat] = {1, 1, -1, 1, 1},
	[LATHE_OP_Split] = {1, 1, 2, 1, -1},
	[LATHE_OP_Slice] = {1, 3, 5, 1, 1},
	[LATHE_OP_Expand] = {1, 2, 2, 1, 1},
	[LATHE_OP_Tile] = {1, 2, 2, 1, 1},
	[LATHE_OP_Pad] = {1, 2, 4, 1, 1},
	[LATHE_OP_ConstantOfShape] = {1, 1, 1, 1, 1},
	[LATHE_OP_Range] = {1, 3, 3, 1, 1},
	[LATHE_OP_EyeLike] = {1, 1, 1, 1, 1},
	[LATHE_OP_Trilu] = {1, 1, 2, 1, 1},
	[LATHE_OP_DepthToSpace] = {1, 1, 1, 1, 1},
	[LATHE_OP_SpaceToDepth] = {1, 1, 1, 1, 1},
	[LATHE_OP_CenterCropPad] = {1, 2, 2, 1, 1},
	[LATHE_OP_ReverseSequence] = {1, 2, 2, 1, 1},
	[LATHE_OP_Gather] = {1, 2, 2, 1, 1},
	[LATHE_OP_GatherElements] = {1, 2, 2, 1, 1},
	[LATHE_OP_GatherND] = {1, 2, 2, 1, 1},
	[LATHE_OP_Scatter] = {1, 3, 3, 1, 1},
	[LATHE_OP_ScatterElements] = {1, 3, 3, 1, 1},
	[LATHE_OP_ScatterND] = {1, 3, 3, 1, 1},
	[LATHE_OP_TensorScatter] = {1, 2, 3, 1, 1},
	[LATHE_OP_OneHot] = {1, 3, 3, 1, 1},
	[LATHE_OP_Compress] = {1, 2, 2, 1, 1},
	[LATHE_OP_NonZero] = {1, 1, 1, 1, 1},
	[LATHE_OP_TopK] = {1, 2, 2, 2, 2},
	[LATHE_OP_Unique] = {1, 1, 1, 1, 4},
	[LATHE_OP_NonMaxSuppression] = {1, 2, 5, 1, 1},
	[LATHE_OP_Resize] = {1, 1, 4, 1, 1},
	[LATHE_OP_Upsample] = {1, 2, 2, 1, 1},
	[LATHE_OP_GridSample] = {1, 2, 2, 1, 1},
	[LATHE_OP_AffineGrid] = {1, 2, 2, 1, 1},
	[LATHE_OP_ArrayFeatureExtractor] = {1, 2, 2, 1, 1},
	[LATHE_OP_If] = {1, 1, 1, 1, -1},
	[LATHE_OP_Loop] = {1, 2, -1, 1, -1},
	[LATHE_OP_Scan] = {1, 1, -1, 1, -1},
	[LATHE_OP_SequenceConstruct] = {1, 1, -1, 1, 1},
	[LATHE_OP_SequenceEmpty] = {1, 0, 0, 1, 1},
	[LATHE_OP_SequenceInsert] = {1, 2, 3, 1, 1},
	[LATHE_OP_SequenceErase] = {1, 1, 2, 1, 1},
	[LATHE_OP_SequenceAt] = {1, 2, 2, 1, 1},
	[LATHE_OP_SequenceLength] = {1, 1, 1, 1, 1},
	[LATHE_OP_SplitToSequence] = {1, 1, 2, 1, 1},
	[LATHE_OP_ConcatFromSequence] = {1, 1, 1, 1, 1},
	[LATHE_OP_SequenceMap] = {1, 1, -1, 1, -1},
	[LATHE_OP_Optional] = {1, 0, 1, 1, 1},
	[LATHE_OP_OptionalHasElement] = {1, 0, 1, 1, 1},
	[LATHE_OP_OptionalGetElement] = {1, 1, 1, 1, 1},
	[LATHE_OP_QuantizeLinear] = {1, 2, 3, 1, 1},
	[LATHE_OP_DequantizeLinear] = {1, 2, 3, 1, 1},
	[LATHE_OP_DynamicQuantizeLinear] = {1, 1, 1, 3, 3},
	[LATHE_OP_BitCast] = {1, 1, 1, 1, 1},
	[LATHE_OP_RNN] = {1, 3, 6, 0, 2},
	[LATHE_OP_GRU] = {1, 3, 6, 0, 2},
	[LATHE_OP_LSTM] = {1, 3, 8, 0, 3},
	[LATHE_OP_DFT] = {1, 1, 3, 1, 1},
	[LATHE_OP_STFT] = {1, 2, 4, 1, 1},
	[LATHE_OP_HannWindow] = {1, 1, 1, 1, 1},
	[LATHE_OP_HammingWindow] = {1, 1, 1, 1, 1},
	[LATHE_OP_BlackmanWindow] = {1, 1, 1, 1, 1},
	[LATHE_OP_MelWeightMatrix] = {1, 5, 5, 1, 1},
	[LATHE_OP_Bernoulli] = {1, 1, 1, 1, 1},
	[LATHE_OP_RandomUniform] = {1, 0, 0, 1, 1},
	[LATHE_OP_RandomNormal] = {1, 0, 0, 1, 1},
	[LATHE_OP_RandomUniformLike] = {1, 1, 1, 1, 1},
	[LATHE_OP_RandomNormalLike] = {1, 1, 1, 1, 1},
	[LATHE_OP_Multinomial] = {1, 1, 1, 1, 1},
	[LATHE_OP_StringNormalizer] = {1, 1, 1, 1, 1},
	[LATHE_OP_StringConcat] = {1, 2, 2, 1, 1},
	[LATHE_OP_StringSplit] = {1, 1, 1, 2, 2},
	[LATHE_OP_RegexFullMatch] = {1, 1, 1, 1, 1},
	[LATHE_OP_TfIdfVectorizer] = {1, 1, 1, 1, 1},
	[LATHE_OP_LabelEncoder] = {1, 1, 1, 1, 1},
	[LATHE_OP_TreeEnsemble] = {1, 1, 1, 1, 1},
	[LATHE_OP_Adagrad] = {1, 3, -1, 1, -1},
	[LATHE_OP_Adam] = {1, 3, -1, 1, -1},
	[LATHE_OP_Momentum] = {1, 3, -1, 1, -1},
};

const char *lathe_op_name(int op)
{
	if (op < 0 || op >= LATHE_OP_COUNT)
		return "?";
	return lathe_ops[op].name;
}

const char *lathe_op_domain(int op)
{
	if (op < 0 || op >= LATHE_OP_COUNT)
		return "";
	return lathe_ops[op].domain;
}

/* ONNX spells the default domain both "" and "ai.onnx". */
static bool same_domain(const char *a, const char *b)
{
	if (!strcmp(a, "ai.onnx"))
		a = "";
	if (!strcmp(b, "ai.onnx"))
		b = "";
	return !strcmp(a, b);
}

int lathe_op_lookup(const char *domain, const char *name)
{
	if (!name)
		return -1;
	for (int op = 0; op < LATHE_OP_COUNT; op++)
		if (!strcmp(lathe_ops[op].name, name) &&
		    (!domain || same_domain(lathe_ops[op].domain, domain)))
			return op;
	return -1;
}

uint32_t lathe_op_param_inputs(int op)
{
	if (op < 0 || op >= LATHE_OP_COUNT)
		return 0;
	return lathe_ops[op].params;
}

bool lathe_op_arity(int op, int *min_in, int *max_in, int *min_out, int *max_out)
{
	if (op < 0 || op >= LATHE_OP_COUNT || !op_arities[op].known)
		return false;
	*min_in = op_arities[op].min_in;
	*max_in = op_arities[op].max_in;
	*min_out = op_arities[op].min_out;
	*max_out = op_arities[op].max_out;
	return true;
}
