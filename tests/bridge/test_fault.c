/* test_fault.c: placeholder until its cases land; reports "skipped". */
int main(void)
{
	return 77;
}
