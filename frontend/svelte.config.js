// Runes everywhere: a component that silently fell back to legacy reactivity would
// compile and behave differently from the rest of the app.
export default {
  compilerOptions: { runes: true },
};
