import { describe, expect, it } from 'vitest';
import { Reverter } from '../../drivers/reverter';

describe('Reverter', () => {
  it('runs the undos newest first on failure', async () => {
    const undone: string[] = [];
    const revert = new Reverter();
    revert.add(() => {
      undone.push('first');
    });
    revert.add(async () => {
      await new Promise((r) => setTimeout(r, 5));
      undone.push('second');
    });
    revert.add(() => {
      undone.push('third');
    });
    expect(await revert.fail()).toEqual([]);
    expect(undone).toEqual(['third', 'second', 'first']);
  });

  it('keeps undoing when an undo throws, and returns what the undos threw', async () => {
    const undone: string[] = [];
    const boom = new Error('undo failed');
    const revert = new Reverter();
    revert.add(() => {
      undone.push('first');
    });
    revert.add(() => {
      throw boom;
    });
    revert.add(() => {
      undone.push('third');
    });
    expect(await revert.fail()).toEqual([boom]);
    expect(undone).toEqual(['third', 'first']);
  });

  it('drops the undos on success', async () => {
    const undone: string[] = [];
    const revert = new Reverter();
    revert.add(() => {
      undone.push('first');
    });
    revert.success();
    expect(await revert.fail()).toEqual([]);
    expect(undone).toEqual([]);
  });

  it('runs each undo once even when fail is called twice', async () => {
    let runs = 0;
    const revert = new Reverter();
    revert.add(() => {
      runs++;
    });
    await revert.fail();
    await revert.fail();
    expect(runs).toBe(1);
  });

  it('run() undoes the completed steps and rethrows the original error', async () => {
    const undone: string[] = [];
    const original = new Error('step 3 failed');
    await expect(
      Reverter.run(async (revert) => {
        revert.add(() => {
          undone.push('step 1');
        });
        revert.add(() => {
          throw new Error('an undo failing must not hide the original error');
        });
        throw original;
      }),
    ).rejects.toBe(original);
    expect(undone).toEqual(['step 1']);
  });

  it('run() returns the result and undoes nothing on success', async () => {
    let undone = false;
    const result = await Reverter.run(async (revert) => {
      revert.add(() => {
        undone = true;
      });
      return 42;
    });
    expect(result).toBe(42);
    expect(undone).toBe(false);
  });
});
