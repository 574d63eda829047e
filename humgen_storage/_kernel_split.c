/* The split's block work in the compiled kernel (included by _kernel.c). */

#define SPLIT_METHODS

static int
split_init(PyObject *module)
{
    return 0;
}
