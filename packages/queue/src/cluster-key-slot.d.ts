/** cluster-key-slot ships no types: the slot of a key (or of several, which must share one). */
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  namespace calculateSlot {
    function generateMulti(keys: Array<string | Buffer>): number;
  }
  export default calculateSlot;
}
