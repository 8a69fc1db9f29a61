/* SPDX-License-Identifier: MIT */
/*
 * A small encoder of ACPI Machine Language (ACPI 6.5, chapter 20, "ACPI
 * Machine Language Specification"), enough for the DSDT of a virtual
 * machine: names, integers, strings, packages, buffers and resource
 * templates, scopes, devices, methods, If/Else, comparisons, Notify,
 * Return. AML is written in prefix order, so a caller emits an operator
 * and then its operands:
 *
 *	vmm_aml_if(a);                       If (
 *	  vmm_aml_lequal(a);                   LEqual (
 *	    vmm_aml_arg(a, 0);                   Arg0,
 *	    vmm_aml_integer(a, 10);              10)) {
 *	  vmm_aml_notify(a);                   Notify (
 *	    vmm_aml_name_string(a, "\\_SB.PWRB");  \_SB.PWRB,
 *	    vmm_aml_integer(a, 0x80);             0x80)
 *	vmm_aml_end(a);                      }
 *
 * Everything with a PkgLength (scope, device, method, package, buffer,
 * if, else) is opened by its *_begin/plain call and closed by
 * vmm_aml_end(); the length is filled in (and the body moved to make room
 * for it) when the scope closes, so bodies of any size nest.
 *
 * Errors are sticky: the first invalid name, overflow of the buffer or
 * unbalanced scope is recorded in a->err and everything after it is a
 * no-op; vmm_aml_finish() reports it. So callers write straight-line code
 * and check once.
 *
 * Resource template descriptors (ACPI 6.5, 6.4) cover what a DSDT of
 * this machine needs: the extended interrupt (GED), I/O ports and IRQs
 * (legacy devices), and the Word/DWord/QWord address space descriptors
 * that a PCI host bridge's _CRS windows are made of.
 */
#ifndef VMM_X86_AML_H
#define VMM_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_AML_MAX_DEPTH 16

struct vmm_aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err; /* 0, -ENOSPC (buffer full) or -EINVAL (bad name, unbalanced) */
	unsigned int depth;
	struct {
		size_t start; /* where the PkgLength goes */
		bool buffer;  /* BufferOp: a BufferSize follows the PkgLength */
	} scope[VMM_AML_MAX_DEPTH];
};

void vmm_aml_init(struct vmm_aml *a, uint8_t *buf, size_t cap);
/* 0 and *len = bytes written, or the first error (also if scopes are open). */
int vmm_aml_finish(struct vmm_aml *a, size_t *len);

/* Raw bytes, for what has no helper yet. */
void vmm_aml_bytes(struct vmm_aml *a, const void *p, size_t n);

/* Data. */
void vmm_aml_integer(struct vmm_aml *a, uint64_t v); /* shortest encoding */
void vmm_aml_string(struct vmm_aml *a, const char *s);
/* "\\_SB.PCI0", "^PWRB", "_S5_", "": segments of 1-4 of [A-Z0-9_], padded. */
void vmm_aml_name_string(struct vmm_aml *a, const char *path);
/* EisaId("PNP0C0C"): the compressed 32-bit id, as an integer. */
void vmm_aml_eisaid(struct vmm_aml *a, const char *id);

/* Name (name, <value>): the caller emits the value next. */
void vmm_aml_name(struct vmm_aml *a, const char *name);

/* Scoped objects, each closed by vmm_aml_end(). */
void vmm_aml_scope(struct vmm_aml *a, const char *path);
void vmm_aml_device(struct vmm_aml *a, const char *path);
void vmm_aml_method(struct vmm_aml *a, const char *name, unsigned int nargs, bool serialized);
void vmm_aml_package(struct vmm_aml *a, unsigned int nelems); /* then nelems data objects */
void vmm_aml_buffer(struct vmm_aml *a); /* then raw bytes; BufferSize is computed */
void vmm_aml_if(struct vmm_aml *a);     /* then the predicate, then the body */
void vmm_aml_else(struct vmm_aml *a);   /* right after an If's vmm_aml_end() */
void vmm_aml_end(struct vmm_aml *a);

/* Operators and operands. */
void vmm_aml_lequal(struct vmm_aml *a);                /* then two operands */
void vmm_aml_land(struct vmm_aml *a);                  /* then two operands */
void vmm_aml_lnot(struct vmm_aml *a);                  /* then one operand */
void vmm_aml_notify(struct vmm_aml *a);                /* then object, value */
void vmm_aml_return(struct vmm_aml *a);                /* then the value */
void vmm_aml_store(struct vmm_aml *a);                 /* then source, target */
void vmm_aml_arg(struct vmm_aml *a, unsigned int n);   /* Arg0..Arg6 */
void vmm_aml_local(struct vmm_aml *a, unsigned int n); /* Local0..Local7 */

/*
 * Resource templates: vmm_aml_resources() opens a Buffer, the descriptors
 * follow, vmm_aml_resources_end() writes the End Tag and closes it.
 */
void vmm_aml_resources(struct vmm_aml *a);
void vmm_aml_resources_end(struct vmm_aml *a);

/* Extended Interrupt descriptor (ACPI 6.4.3.6), consumer. */
void vmm_aml_res_interrupt(struct vmm_aml *a, bool edge, bool active_low, bool shared,
			   const uint32_t *gsis, unsigned int n);
/* IRQNoFlags(): an edge, active-high ISA IRQ 0..15 (6.4.2.1). */
void vmm_aml_res_irq(struct vmm_aml *a, unsigned int irq);
/* IO (Decode16, min, max, align, len) (6.4.2.5). */
void vmm_aml_res_io(struct vmm_aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);

/* Memory32Fixed (ReadWrite or ReadOnly, base, len) (6.4.3.4). */
void vmm_aml_res_mem32_fixed(struct vmm_aml *a, bool writable, uint32_t base, uint32_t len);

/* Address space descriptors (6.4.3.5), producer, fixed min and max,
 * positive decode, length = max - min + 1. */
enum vmm_aml_mem_cache {
	VMM_AML_MEM_NONCACHEABLE = 0,
	VMM_AML_MEM_CACHEABLE = 1,
	VMM_AML_MEM_WRITE_COMBINING = 2,
	VMM_AML_MEM_PREFETCHABLE = 3,
};
void vmm_aml_res_word_bus(struct vmm_aml *a, uint16_t min, uint16_t max);
void vmm_aml_res_word_io(struct vmm_aml *a, uint16_t min, uint16_t max);
void vmm_aml_res_dword_mem(struct vmm_aml *a, enum vmm_aml_mem_cache cache, uint32_t min,
			   uint32_t max);
void vmm_aml_res_qword_mem(struct vmm_aml *a, enum vmm_aml_mem_cache cache, uint64_t min,
			   uint64_t max);

#endif
