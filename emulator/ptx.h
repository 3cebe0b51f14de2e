/*
 * The CPU device's decoded form of PTX: a module's variables and functions,
 * each function a flat array of instructions with resolved operands, so
 * that the interpreter (exec.c) never looks at text again.
 */
#ifndef VCUDA_PTX_H
#define VCUDA_PTX_H

#include <stddef.h>
#include <stdint.h>

/* Types: kind in the high nibble, log2 of the size in bytes in the low. */
/* PK_X: tf32 and the 8-bit float pairs. Bit 7 marks a packed pair
 * (f16x2, bf16x2) or the second of two formats of a kind (e5m2x2). */
enum ptx_kind { PK_B = 1, PK_U = 2, PK_S = 3, PK_F = 4, PK_PRED = 5, PK_BF = 6, PK_X = 7 };
#define PTX_TYPE(kind, lg) ((uint8_t)((kind) << 4 | (lg)))
#define PTX_KIND(t)	   (((t) >> 4) & 7)
#define PTX_SIZE(t)	   (1u << ((t)&15))
enum {
	PT_NONE = 0,
	PT_B8 = PTX_TYPE(PK_B, 0),
	PT_B16 = PTX_TYPE(PK_B, 1),
	PT_B32 = PTX_TYPE(PK_B, 2),
	PT_B64 = PTX_TYPE(PK_B, 3),
	PT_B128 = PTX_TYPE(PK_B, 4),
	PT_U8 = PTX_TYPE(PK_U, 0),
	PT_U16 = PTX_TYPE(PK_U, 1),
	PT_U32 = PTX_TYPE(PK_U, 2),
	PT_U64 = PTX_TYPE(PK_U, 3),
	PT_S8 = PTX_TYPE(PK_S, 0),
	PT_S16 = PTX_TYPE(PK_S, 1),
	PT_S32 = PTX_TYPE(PK_S, 2),
	PT_S64 = PTX_TYPE(PK_S, 3),
	PT_F16 = PTX_TYPE(PK_F, 1),
	PT_F32 = PTX_TYPE(PK_F, 2),
	PT_F64 = PTX_TYPE(PK_F, 3),
	PT_BF16 = PTX_TYPE(PK_BF, 1),
	PT_F16X2 = PTX_TYPE(PK_F, 2) | 0x80,
	PT_BF16X2 = PTX_TYPE(PK_BF, 2) | 0x80,
	PT_TF32 = PTX_TYPE(PK_X, 2),
	PT_E4M3X2 = PTX_TYPE(PK_X, 1),
	PT_E5M2X2 = PTX_TYPE(PK_X, 1) | 0x80,
	PT_PRED = PTX_TYPE(PK_PRED, 0),
};

enum ptx_space { PS_NONE, PS_GLOBAL, PS_SHARED, PS_LOCAL, PS_CONST, PS_PARAM, PS_GENERIC };

/*
 * Every opcode the parser knows, with its executor in the interpreter
 * (exec_table.c): exec_control marks the ops run_warp runs itself
 * (branches, calls, returns, barriers, traps); NONE an op the CPU device
 * does not run, which a module may not use (refused at load with
 * CUDA_ERROR_INVALID_PTX, naming it and its line). Adding an instruction:
 * its row here, its executor, and its operands in the parser.
 */
/* clang-format off */
#define PTX_OPS(X) \
	X(MOV, exec_mov) \
	X(LD, exec_ld) \
	X(ST, exec_st) \
	X(CVTA, exec_cvta) \
	X(CVT, exec_cvt) \
	X(ADD, exec_alu) \
	X(SUB, exec_alu) \
	X(MUL, exec_alu) \
	X(MAD, exec_alu) \
	X(MUL24, exec_alu) \
	X(MAD24, exec_alu) \
	X(DIV, exec_alu) \
	X(REM, exec_alu) \
	X(ABS, exec_alu) \
	X(NEG, exec_alu) \
	X(MIN, exec_alu) \
	X(MAX, exec_alu) \
	X(POPC, exec_alu) \
	X(CLZ, exec_alu) \
	X(BFIND, exec_alu) \
	X(BREV, exec_alu) \
	X(BFE, exec_alu) \
	X(BFI, exec_bfi) \
	X(AND, exec_alu) \
	X(OR, exec_alu) \
	X(XOR, exec_alu) \
	X(NOT, exec_alu) \
	X(CNOT, exec_alu) \
	X(SHL, exec_alu) \
	X(SHR, exec_alu) \
	X(LOP3, exec_lop3) \
	X(SHF, exec_shf) \
	X(PRMT, exec_prmt) \
	X(FMA, exec_alu) \
	X(RCP, exec_alu) \
	X(SQRT, exec_alu) \
	X(RSQRT, exec_alu) \
	X(SIN, exec_alu) \
	X(COS, exec_alu) \
	X(LG2, exec_alu) \
	X(EX2, exec_alu) \
	X(TANH, exec_alu) \
	X(COPYSIGN, exec_alu) \
	X(TESTP, exec_testp) \
	X(SETP, exec_setp) \
	X(SET, exec_set) \
	X(SELP, exec_selp) \
	X(SLCT, exec_slct) \
	X(BRA, exec_control) \
	X(CALL, exec_control) \
	X(RET, exec_control) \
	X(EXIT, exec_control) \
	X(BAR, exec_control) \
	X(BARCLUSTER, exec_control) \
	X(MAPA, exec_mapa) \
	X(GETCTARANK, exec_mapa) \
	X(BARWARP, exec_nop) \
	X(MEMBAR, exec_membar) \
	X(SHFL, exec_shfl) \
	X(VOTE, exec_vote) \
	X(MATCH, exec_match) \
	X(ACTIVEMASK, exec_activemask) \
	X(REDUX, exec_redux) \
	X(ATOM, exec_atom) \
	X(RED, exec_atom) \
	X(NOP, exec_nop) \
	X(TRAP, exec_control) \
	X(ADDC, exec_carry) \
	X(SUBC, exec_carry) \
	X(MADC, exec_carry) \
	X(DP4A, exec_dot) \
	X(DP2A, exec_dot) \
	X(SAD, exec_sad) \
	X(FNS, exec_fns) \
	X(SZEXT, exec_szext) \
	X(PREFETCH, exec_nop) \
	X(NANOSLEEP, exec_nop) \
	X(BMSK, exec_bmsk) \
	X(TEX, exec_tex) \
	X(TLD4, exec_tex) \
	X(TXQ, exec_txq) \
	X(SULD, exec_suld) \
	X(SUST, exec_sust) \
	X(SUQ, exec_txq) \
	X(VADD2, exec_video) \
	X(VADD4, exec_video) \
	X(VSUB2, exec_video) \
	X(VSUB4, exec_video) \
	X(VAVRG2, exec_video) \
	X(VAVRG4, exec_video) \
	X(VABSDIFF2, exec_video) \
	X(VABSDIFF4, exec_video) \
	X(VMIN2, exec_video) \
	X(VMIN4, exec_video) \
	X(VMAX2, exec_video) \
	X(VMAX4, exec_video) \
	X(VSET2, exec_video) \
	X(VSET4, exec_video) \
	X(ALLOCA, exec_alloca) \
	X(STACKSAVE, exec_alloca) \
	X(STACKRESTORE, exec_alloca) \
	X(CP, exec_cp) \
	X(MBARRIER, exec_mbarrier) \
	X(WMMA, exec_wmma) \
	X(MMA, exec_mma) \
	X(LDMATRIX, exec_ldmatrix) \
	X(STMATRIX, exec_ldmatrix) \
	/* end */
/* clang-format on */

enum ptx_op {
#define PTX_OP_ENUM(name, executor) OP_##name,
	PTX_OPS(PTX_OP_ENUM)
#undef PTX_OP_ENUM
	    OP_COUNT
};

/* Instruction modifiers. */
enum {
	MOD_SAT = 1 << 0,
	MOD_FTZ = 1 << 1,
	MOD_APPROX = 1 << 2,
	MOD_HI = 1 << 3,
	MOD_LO = 1 << 4,
	MOD_WIDE = 1 << 5,
	MOD_CC = 1 << 6,
	MOD_UNI = 1 << 7,
	MOD_RN = 1 << 8,
	MOD_RZ = 1 << 9,
	MOD_RM = 1 << 10,
	MOD_RP = 1 << 11,
	MOD_INTRND = 1 << 12, /* rni, rzi, rmi, rpi: round to an integral value */
	MOD_FULL = 1 << 13,
	MOD_SHIFTAMT = 1 << 14,
	MOD_L = 1 << 15,
	MOD_CLAMP = 1 << 16,
	MOD_NAN = 1 << 17,
	MOD_RELU = 1 << 18,
	MOD_XORSIGN = 1 << 19,
	MOD_ABS = 1 << 20,
	MOD_TO = 1 << 21, /* cvta.to */
	MOD_SATFINITE = 1 << 22,
	MOD_RNA = 1 << 23,     /* round to nearest, ties away from zero */
	MOD_TRANS = 1 << 24,   /* ldmatrix, stmatrix */
	MOD_ORDERED = 1 << 25, /* .volatile, .relaxed, .acquire, ...: not to be merged or moved */
};

/*
 * Matrix instructions. wmma: insn.sub the operation, insn.sub2 bit 0 and 1
 * the layouts of a (or the one matrix loaded or stored) and b (1: column
 * major), insn.cmp the shape (an index into ptx_mma_shapes). Types: d (or
 * the one matrix's) in type, then a, b, c in type2, type3, type4.
 * ldmatrix/stmatrix: insn.sub the number of 8x8 matrices.
 */
enum { MMA_LOAD_A = 1, MMA_LOAD_B, MMA_LOAD_C, MMA_STORE_D, MMA_MMA };
struct ptx_mma_shape {
	uint8_t m, n, k;
};
extern const struct ptx_mma_shape ptx_mma_shapes[];
extern const int ptx_mma_nshapes;
/* cp.async (insn.sub; the destination's space in insn.space, the
 * source's in insn.type3) and mbarrier (insn.sub), with their flags in
 * insn.sub2. */
enum { CP_COPY, CP_COMMIT, CP_WAIT, CP_MBARRIER_ARRIVE, CP_BULK };
enum { CP_F_NOINC = 1, CP_F_COMPLETE_TX = 2 };
enum {
	MB_INIT = 1,
	MB_ARRIVE,
	MB_ARRIVE_DROP,
	MB_EXPECT_TX,
	MB_COMPLETE_TX,
	MB_TEST_WAIT,
	MB_TRY_WAIT,
	MB_PENDING,
	MB_INVAL,
};
enum { MB_F_PARITY = 1, MB_F_EXPECT_TX = 2, MB_F_NOCOMPLETE = 4 };

/* SIMD video instructions (vadd2 ... vset4): a source register's element
 * selector (.h10, .b3210) is kept in its operand's base, one nibble per
 * result element, with VIDEO_SEL set; the destination's mask (.h0, .b31)
 * in insn.sub2, 0 meaning every element. */
#define VIDEO_SEL 0x10000
/* barrier.cluster's sub. */
enum { BARCLUSTER_ARRIVE = 1, BARCLUSTER_WAIT };
#define PTX_IS_VIDEO(op) ((op) >= OP_VADD2 && (op) <= OP_VSET4)

/* The sub-byte element types of matrix instructions. */
enum {
	PT_S4 = PTX_TYPE(PK_S, 0) | 0x80,
	PT_U4 = PTX_TYPE(PK_U, 0) | 0x80,
	PT_B1 = PTX_TYPE(PK_B, 0) | 0x80,
};
#define MOD_ROUND (MOD_RN | MOD_RZ | MOD_RM | MOD_RP)

/* Comparisons of setp, set, slct. */
enum ptx_cmp {
	CMP_EQ,
	CMP_NE,
	CMP_LT,
	CMP_LE,
	CMP_GT,
	CMP_GE,
	CMP_LO,
	CMP_LS,
	CMP_HI,
	CMP_HS,
	CMP_EQU,
	CMP_NEU,
	CMP_LTU,
	CMP_LEU,
	CMP_GTU,
	CMP_GEU,
	CMP_NUM,
	CMP_NAN,
};

/* The sub-operation of atom/red/vote/shfl/redux/bool combine. */
enum ptx_sub {
	SUB_NONE,
	SUB_AND,
	SUB_OR,
	SUB_XOR,
	SUB_ADD,
	SUB_INC,
	SUB_DEC,
	SUB_MIN,
	SUB_MAX,
	SUB_EXCH,
	SUB_CAS,
	SUB_ALL,
	SUB_ANY,
	SUB_UNI,
	SUB_BALLOT,
	SUB_UP,
	SUB_DOWN,
	SUB_BFLY,
	SUB_IDX,
	SUB_MATCH_ANY,
	SUB_MATCH_ALL,
	/* testp */
	SUB_FINITE,
	SUB_INFINITE,
	SUB_NUMBER,
	SUB_NOTANUMBER,
	SUB_NORMAL,
	SUB_SUBNORMAL,
	SUB_POPC, /* bar.red.popc (bar.red.and, .or: SUB_AND, SUB_OR) */
};

enum ptx_sreg {
	SR_TID_X,
	SR_TID_Y,
	SR_TID_Z,
	SR_NTID_X,
	SR_NTID_Y,
	SR_NTID_Z,
	SR_CTAID_X,
	SR_CTAID_Y,
	SR_CTAID_Z,
	SR_NCTAID_X,
	SR_NCTAID_Y,
	SR_NCTAID_Z,
	SR_LANEID,
	SR_WARPID,
	SR_NWARPID,
	SR_SMID,
	SR_NSMID,
	SR_GRIDID,
	SR_CLOCK,
	SR_CLOCK64,
	SR_GLOBALTIMER,
	SR_LANEMASK_EQ,
	SR_LANEMASK_LT,
	SR_LANEMASK_LE,
	SR_LANEMASK_GT,
	SR_LANEMASK_GE,
	SR_DYN_SMEM,
	SR_TOTAL_SMEM,
	SR_CLUSTER_CTAID_X, /* thread block clusters (sm_90) */
	SR_CLUSTER_CTAID_Y,
	SR_CLUSTER_CTAID_Z,
	SR_CLUSTER_NCTAID_X,
	SR_CLUSTER_NCTAID_Y,
	SR_CLUSTER_NCTAID_Z,
	SR_CLUSTERID_X,
	SR_CLUSTERID_Y,
	SR_CLUSTERID_Z,
	SR_NCLUSTERID_X,
	SR_NCLUSTERID_Y,
	SR_NCLUSTERID_Z,
	SR_CLUSTER_CTARANK,
	SR_CLUSTER_NCTARANK,
	SR_IS_EXPLICIT_CLUSTER,
	SR_ZERO,
	SR_CLOCK_HI,
	SR_GLOBALTIMER_LO,
	SR_GLOBALTIMER_HI,
	SR_AGGR_SMEM,
	SR_RESERVED_BEGIN, /* cooperative groups' reserved shared memory */
	SR_RESERVED_END,
	SR_RESERVED_CAP,
	SR_RESERVED_0, /* %reserved_smem_offset_0, _1 */
	SR_RESERVED_1,
	SR_ENVREG0, /* %envreg0 .. %envreg31 follow */
};

enum ptx_opnd_kind {
	OK_NONE,
	OK_REG,
	OK_PRED,
	OK_IMM,
	OK_SREG,
	OK_SYM,
	OK_ADDR,
	OK_VEC,
	OK_LABEL,
	OK_FUNC,
};

/* A symbol's place: where its address points. */
enum ptx_sym_kind {
	SYM_GLOBAL, /* a module variable in device memory */
	SYM_CONST,  /* the module's constant bank */
	SYM_SHARED, /* the block's shared memory */
	SYM_LOCAL,  /* the thread's frame */
	SYM_KPARAM, /* a kernel parameter */
	SYM_FPARAM, /* a parameter of a device function or a call */
	SYM_FUNC,   /* a function (call target) */
};

struct ptx_operand {
	uint8_t kind;
	uint8_t neg;	/* !%p, or -x for immediates when parsed */
	uint8_t nvec;	/* OK_VEC: how many */
	int32_t reg;	/* OK_REG/OK_PRED index, OK_SREG enum, OK_SYM/OK_ADDR symbol or -1 */
	int32_t base;	/* OK_ADDR: register holding the base, or -1 */
	int64_t imm;	/* OK_IMM bits; OK_ADDR/OK_SYM offset */
	int32_t vec[8]; /* more than 4 only in matrix fragments (wmma, mma, ldmatrix) */
};

struct ptx_insn {
	uint16_t op;
	uint8_t type, type2; /* main type; cvt's source, setp's... */
	uint8_t space, vec, cmp, sub, sub2;
	uint8_t nops, guard_neg;
	uint8_t type3, type4; /* mma: the types of b and c (a in type2, d in type) */
	int16_t guard;	      /* predicate register or -1 */
	uint32_t mods;
	int32_t target; /* bra: instruction; call: call record */
	int32_t reconv; /* bra: where diverged lanes meet again (-1: function end) */
	int32_t line;
	struct ptx_operand o[6];
};

struct ptx_sym {
	char *name;
	uint8_t kind; /* enum ptx_sym_kind */
	uint8_t is_extern, is_array_unsized;
	uint8_t managed;      /* SYM_GLOBAL: .attribute(.managed) */
	int32_t shared_index; /* SYM_SHARED with a size: which of the module's, else -1 */
	uint32_t align;
	uint64_t size;
	uint64_t offset;	  /* const/shared/local/param offset; global: set at load */
	uint8_t *init;		  /* initial bytes (size of them), or NULL */
	struct ptx_reloc *relocs; /* addresses within init */
	int nrelocs;
	int func;      /* SYM_FUNC: index; SYM_LOCAL/FPARAM: owning function */
	uint64_t dptr; /* SYM_GLOBAL: device address once loaded */
};

struct ptx_call {
	int func;    /* callee, or -1 for a builtin or an indirect call */
	int builtin; /* enum ptx_builtin */
	int32_t reg; /* indirect calls: the register holding the callee's address, else -1 */
	int nret, nargs;
	int32_t ret[4]; /* symbols (call-site .param) */
	int32_t *args;
};

/* Functions the CPU device provides itself, called by name. */
enum ptx_builtin {
	BI_NONE = 0,
	BI_VPRINTF = 1,
	BI_MALLOC = 2,
	BI_FREE = 3,
	BI_GRAPH_SET_CONDITIONAL = 4,
	BI_ASSERTFAIL = 5,
	/* dynamic parallelism (CUDA 12's CDP2 device runtime) */
	BI_CDP_PARAM_BUFFER = 6,
	BI_CDP_LAUNCH = 7,
	BI_CDP_STREAM_CREATE = 8,
	BI_CDP_STREAM_DESTROY = 9,
	BI_CDP_LAST_ERROR = 10,
	BI_CDP_PEEK_ERROR = 11,
	BI_UNRESOLVED = -1, /* an extern function, resolved once the module is read */
};

/* A function's address as a kernel sees it (mov of a function name, a
 * virtual table): not memory, so any load or store through it faults. */
#define PTX_FUNC_ADDR(fi) (0x5000000000000000ull | (uint64_t)(fi))
#define PTX_FUNC_INDEX(a) (((a) >> 32) == 0x50000000u ? (int64_t)((a)&0xffffffffu) : -1)

/* An address in a variable's initializer ({fn, var, var+8}): filled in at load. */
struct ptx_reloc {
	uint64_t at; /* byte offset in the variable */
	int32_t sym; /* the symbol whose address goes there */
	int64_t addend;
	uint8_t size;	 /* 8 */
	uint8_t generic; /* generic(sym): a generic address, else the symbol's own space's */
};

struct ptx_param {
	char *name;
	uint32_t size, align, offset;
	uint8_t type;	/* scalar type, or PT_B8 for .b8 arrays */
	uint8_t is_ptr; /* .ptr attribute */
};

struct ptx_func {
	char *name;
	int is_entry, is_extern, defined;
	struct ptx_param *params;
	int nparams;
	uint32_t param_size; /* entry: kernel parameter bytes */
	struct ptx_param *rets;
	int nrets;
	uint32_t frame_param_size; /* device function params, call-site params */
	uint32_t local_size;	   /* .local bytes of one frame */
	int nregs, npreds;
	uint8_t *reg_types;
	struct ptx_insn *insns;
	int ninsns, cap;
	uint32_t maxntid[3], reqntid[3];
	uint32_t reqncluster[3]; /* .reqnctapercluster (__cluster_dims__); 0: none */
	int explicit_cluster;	 /* .explicitcluster: launched in clusters only */
	int uses_shared, line;
	/* Entries: where each static .shared variable the kernel reaches (from
	 * itself or the functions it calls) lies in its block's shared
	 * memory, by the variable's shared_index, and how much that is. */
	uint32_t *shared_off;
	uint32_t shared_size;
};

struct ptx_module {
	char *text; /* the PTX, owned */
	unsigned version_major, version_minor, target_sm;
	struct ptx_func *funcs;
	int nfuncs;
	struct ptx_sym *syms;
	int nsyms;
	struct ptx_call *calls;
	int ncalls;
	uint64_t const_size, shared_size, global_size;
	int has_dyn_shared;
	int has_managed;     /* globals then start on a page (PTX_MANAGED_PAGE) */
	int has_alloca;	     /* a function takes local memory with alloca: kernels get a stack */
	uint8_t *const_bank; /* const_size bytes, initialized */
	void *jit;	     /* the compiled tier's state (jit.c), or NULL */
};

/*
 * Limits on what a module may declare. PTX comes from the guest, so every
 * count and size read from it is checked against these before it is used or
 * multiplied; real nvcc output stays far below each (ptxas itself refuses
 * more than 48 KiB of static shared memory, 64 KiB of constants, 512 KiB of
 * local memory per thread and 32764 bytes of kernel parameters).
 */
#define PTX_MAX_TEXT	     (64u << 20)    /* bytes of PTX text in one module */
#define PTX_MAX_REGS	     (1 << 20)	    /* registers (and predicates) of one function */
#define PTX_MAX_INSNS	     (1 << 22)	    /* instructions of one function */
#define PTX_MAX_VAR_BYTES    (256ull << 20) /* one variable */
#define PTX_MAX_GLOBAL_BYTES (1ull << 30)   /* all of a module's .global variables */
/* A __managed__ variable starts on a page of this size and has its pages
 * to itself, so that a guest can mirror them (shim/managed.c). */
#define PTX_MANAGED_PAGE 4096u

/* tex, tld4, suld, sust, txq, suq: the geometry (insn.sub2), the query
 * (insn.sub), tld4's component (insn.sub: 1-4), the surface boundary mode
 * (insn.cmp) and tex.level/tex.grad (insn.cmp: 1, 2). */
enum { TEXG_1D = 1, TEXG_2D, TEXG_3D, TEXG_A1D, TEXG_A2D };
enum {
	TXQ_WIDTH = 1,
	TXQ_HEIGHT,
	TXQ_DEPTH,
	TXQ_ARRAY_SIZE,
	TXQ_CHANNEL_DATA_TYPE,
	TXQ_CHANNEL_ORDER,
	TXQ_NORMALIZED_COORDS,
	TXQ_FILTER_MODE,
	TXQ_ADDR_MODE_0,
	TXQ_ADDR_MODE_1,
	TXQ_ADDR_MODE_2,
	TXQ_NUM_MIPMAP_LEVELS,
	TXQ_NUM_SAMPLES,
};
#define PTX_MAX_CONST_BYTES   (64u << 10)
#define PTX_MAX_SHARED_BYTES  (48u << 10)  /* static .shared a kernel reaches */
#define PTX_MAX_MODULE_SHARED (16u << 20)  /* all .shared variables of a module */
#define PTX_MAX_LOCAL_BYTES   (512u << 10) /* .local of one function's frame */
#define PTX_MAX_KPARAM_BYTES  32764u
/* Shared memory each block has beyond the kernel's own, for cooperative
 * groups (%reserved_smem_offset_*): what CUDA reserves on sm_80 and later. */
#define PTX_RESERVED_SMEM 1024u
/* Blocks in a thread block cluster: 8 is portable, 16 the most a GPU runs. */
#define PTX_MAX_CLUSTER 16u
/* A shared::cluster address: the target block's rank + 1 above this bit,
 * 0 for the block's own shared memory (its shared::cta window). */
#define PTX_CLUSTER_SHIFT    24
#define PTX_MAX_FPARAM_BYTES (64u << 10) /* a device function's parameters and call-site params */
#define PTX_MAX_ALIGN	     65536u

/* Parses PTX text. On failure returns NULL and writes a message naming the
 * line and the construct to log. */
struct ptx_module *ptx_parse(const char *text, char *log, size_t log_len);
/* An op's name as PTX spells it ("dp4a"), written to buf. */
const char *ptx_op_name(int op, char *buf, size_t len);
void ptx_module_free(struct ptx_module *m);
int ptx_find_func(const struct ptx_module *m, const char *name);
int ptx_find_sym(const struct ptx_module *m, const char *name);
/* Reconvergence points of every branch (ptx_cfg.c); 0 or -1 with log. */
int ptx_compute_reconvergence(struct ptx_module *m, char *log, size_t log_len);
/* Lays out each kernel's static shared memory: only the variables it
 * reaches, each kernel its own (ptx_decl.c). 0, or -1 with log set. */
int ptx_layout_shared(struct ptx_module *m, char *log, size_t log_len);

#endif
